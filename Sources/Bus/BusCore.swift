// The envelope and the contracts live in BusCore, which clients build on without the log's
// dependencies; everything that imports Bus sees them as before.
@_exported import BusCore
