// The client side of the protocol (publishing, replay, CURVE credentials) lives in WZTClient,
// which integrators build on without the node's dependencies.
@_exported import WZTClient
