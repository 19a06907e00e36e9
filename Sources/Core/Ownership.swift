import Bus
import BusTransport
import Foundation
import Logging
import Metrics
import ModuleKit
import ServiceLifecycle
import Storage

/// Runs `service` (a module's host, the erasure subscription) on this node only while this node
/// holds the lease `name` in the log (`[cluster]`). It tries to take the lease every sixth of its
/// length; holding it, it renews it every third, and stops the service when a renewal finds it
/// taken over or when the lease ran out before a renewal got through (the server away). On an
/// orderly shutdown it hands the lease back, so another node takes over at once.
struct Owned: Service {
    let name: String
    let service: any Service
    /// What carries the lease's fencing token to the module's writes; nil for a service whose
    /// writes are idempotent (the erasure subscription).
    let fence: (any LeaseFence)?
    /// The module whose ownership `wzt status` shows as taken elsewhere; nil for the bus's own.
    let host: ModuleHost?
    let leases: ModuleLeases
    let cluster: ClusterConfiguration
    /// A module whose tables are on this node's disk: its lease never runs out, and no other node takes it.
    let pinned: Bool
    let logger: Logger

    private enum Ending { case serviceEnded, leaseLost }

    func run() async throws {
        let owned = Gauge(label: "wzt_module_owned", dimensions: [("module", name)])
        owned.record(0)
        var toldPinned = false
        var triesLost = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let token: Int64
            do {
                guard let taken = try await leases.takeOwnership(of: name, node: cluster.node, lease: cluster.lease, pinned: pinned) else {
                    // Who holds it, for the status pages: asked now and then, not at every try.
                    if triesLost % 20 == 0, let holder = try? await leases.owners().first(where: { $0.module == name }) {
                        host?.ownedElsewhere = holder.node
                        if holder.secondsLeft == nil, !toldPinned {
                            logger.notice("module pinned to another node", metadata: ["wzt.module": "\(name)", "wzt.node": "\(holder.node)"])
                            toldPinned = true
                        }
                    }
                    triesLost += 1
                    try await waitBeforeTrying()
                    continue
                }
                triesLost = 0
                token = taken
                fence?.hold(token)
                try await fence?.claim()
            } catch is CancellationError {
                break
            } catch {
                logger.error("taking the module's lease failed", metadata: ["wzt.module": "\(name)", "bus.error": "\(error)"])
                try? await waitBeforeTrying()
                continue
            }
            host?.ownedElsewhere = nil
            owned.record(1)
            logger.notice(pinned ? "module runs on this node only: its tables are on this node's disk" : "module taken over by this node",
                          metadata: ["wzt.module": "\(name)", "wzt.token": "\(token)"])
            let ending: Result<Ending, any Error>
            do {
                ending = .success(try await withThrowingTaskGroup(of: Ending.self) { group in
                    group.addTask {
                        try await service.run()
                        return .serviceEnded
                    }
                    group.addTask {
                        try await renewUntilLost(token)
                        return .leaseLost
                    }
                    defer { group.cancelAll() }
                    return try await group.next() ?? .serviceEnded
                })
            } catch let error as StoreError where error.code == .notOwner {
                ending = .success(.leaseLost)
            } catch where Dispatcher.isWaitNotFailure(error) {
                // The database went away (a server restarting, a failover): another node, or this
                // one once the server is back, takes the module up again.
                logger.warning("module stopped until its storage is back", metadata: ["wzt.module": "\(name)", "bus.error": "\(error)"])
                ending = .success(.leaseLost)
            } catch {
                ending = .failure(error)
            }
            fence?.hold(nil)
            owned.record(0)
            switch ending {
            case .failure(let error):
                try? await leases.releaseOwnership(of: name, token: token)
                throw error
            case .success(.serviceEnded):
                try? await leases.releaseOwnership(of: name, token: token)
                return
            case .success(.leaseLost):
                logger.warning("module lease lost: another node may run it now", metadata: ["wzt.module": "\(name)", "wzt.token": "\(token)"])
            }
        }
    }

    /// Returns when the lease `token` is lost: taken over, or run out before a renewal got through.
    private func renewUntilLost(_ token: Int64) async throws {
        let clock = ContinuousClock()
        // A renewal sent at `sent` extends the lease to at least `sent` + the lease on the server.
        var validUntil = clock.now + cluster.lease
        while true {
            try await clock.sleep(until: min(clock.now + cluster.lease / 3, validUntil))
            if clock.now >= validUntil { return }
            let sent = clock.now
            do {
                guard try await leases.renewOwnership(of: name, token: token, lease: cluster.lease, pinned: pinned) else { return }
                validUntil = sent + cluster.lease
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                logger.error("renewing the module's lease failed", metadata: ["wzt.module": "\(name)", "bus.error": "\(error)"])
            }
        }
    }

    private func waitBeforeTrying() async throws {
        try await cancelWhenGracefulShutdown { try await Task.sleep(for: cluster.lease / 6) }
    }
}

/// What carries the fencing token of a node's lease on a module to the module's writes.
protocol LeaseFence: Sendable {
    /// From now on the module's writes carry `token` (nil: this node holds no lease).
    func hold(_ token: Int64?)
    /// Makes the token known where the module writes, so that a former owner's writes fail from now on.
    func claim() async throws
}

/// A module in this process: its store checks the token in every write transaction.
extension FencedStore: LeaseFence {}

/// A module in another process: the link sends the token with each window, and the module
/// process's store takes it from there (`ModuleLinkClient`); its first window is the claim.
struct LinkFence: LeaseFence {
    let link: ModuleLinkServer
    let module: String

    func hold(_ token: Int64?) { link.hold(token, for: module) }
    func claim() async throws {}
}
