@testable import Bus
import Foundation
import struct NIOConcurrencyHelpers.NIOLockedValueBox
import Synchronization
import Testing

struct ConcurrentMapTests {
    /// Every element transformed once, results in the elements' order, whether the array is
    /// split between threads or not.
    @Test(arguments: [0, 1, 63, 64, 65, 1000, 4097])
    func resultsKeepTheOrderAndEachElementIsTransformedOnce(count: Int) {
        let calls = Atomic(0)
        let results = Array(0..<count).concurrentMap(minimumPerThread: 32) { element in
            calls.add(1, ordering: .relaxed)
            return element * 3
        }
        #expect(results == (0..<count).map { $0 * 3 })
        #expect(calls.load(ordering: .relaxed) == count)
    }

    /// A large array is split: another thread takes the second half while the caller's thread
    /// is still at the first element, which waits for it (at most 10 s: a run on one thread fails).
    @Test func aLargeArrayIsSplitBetweenThreads() throws {
        try #require(ProcessInfo.processInfo.activeProcessorCount > 1, "needs a machine with two cores or more")
        let threads = NIOLockedValueBox(Set<pthread_t>())
        _ = Array(0..<10_000).concurrentMap(minimumPerThread: 100) { element in
            threads.withLockedValue { _ = $0.insert(pthread_self()) }
            if element == 0 {
                let deadline = ContinuousClock.now + .seconds(10)
                while threads.withLockedValue({ $0.count }) < 2, ContinuousClock.now < deadline { usleep(1000) }
            }
            return element
        }
        #expect(threads.withLockedValue { $0.count } > 1)
    }
}
