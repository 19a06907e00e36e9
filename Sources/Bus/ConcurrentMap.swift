import Dispatch
import Foundation

extension Array where Element: Sendable {
    /// `transform` of each element, in order, computed on as many threads as there are cores when
    /// every thread gets at least `minimumPerThread` elements, else on the caller's thread alone.
    ///
    /// For the ingress: validating and sealing a batch is most of the time an event waits before
    /// its group commit, and with a window of events in flight per publisher, that wait bounds
    /// throughput while a core stays idle.
    ///
    /// `ahead`: work done ahead of the one thread a chain waits for (a module's transaction) leaves
    /// it a core; on every core, that thread got a core only part of the time.
    package func concurrentMap<T: Sendable>(minimumPerThread: Int, ahead: Bool = false, _ transform: @Sendable (Element) -> T) -> [T] {
        let threads = Swift.min(ahead ? cores - 1 : cores, count / Swift.max(minimumPerThread, 1))
        guard threads > 1 else { return map(transform) }
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            let results = Slots(base: buffer.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: threads) { part in
                for index in part * count / threads ..< (part + 1) * count / threads {
                    (results.base + index).initialize(to: transform(self[index]))
                }
            }
            initialized = count
        }
    }
}

/// The fewest envelopes worth a thread of their own when a batch is checked, decoded or projected
/// (about 10 µs each; waking a thread costs tens of microseconds).
package let envelopesPerThread = 32

extension EnvelopeDecoder {
    /// Each of `documents` decoded, in order, on every core for a large batch.
    package func decodeEach(_ documents: [[UInt8]]) -> [Result<Envelope, EnvelopeError>] {
        documents.concurrentMap(minimumPerThread: envelopesPerThread) { json in Result { () throws(EnvelopeError) in try decode(json) } }
    }
}

/// Read once: on Linux `activeProcessorCount` reads the cgroup's CPU quota from files each time,
/// which cost more than sealing a batch's fields.
private let cores = ProcessInfo.processInfo.activeProcessorCount

/// Where the threads of `concurrentMap` write their results: each its own range of slots.
private struct Slots<T>: @unchecked Sendable {
    let base: UnsafeMutablePointer<T>
}
