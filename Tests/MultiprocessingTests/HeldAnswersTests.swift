import Testing

@testable import Multiprocessing

@Suite("held answers")
struct HeldAnswersTests {
    @Test("holds small answers in order, sends them when due, and refuses a large or slow one")
    func holding() {
        var held = HeldAnswers()
        #expect(held.isEmpty && !held.isDue(now: 0))
        let first = held.hold([WireBytes([1, 2]), WireBytes([3])], ranFor: 500, now: 1_000)
        let second = held.hold([WireBytes([4])], ranFor: 500, now: 2_000)
        #expect(first && second)
        #expect(!held.isDue(now: 1_000 + HeldAnswers.maximumHoldNanoseconds - 1))
        #expect(held.isDue(now: 1_000 + HeldAnswers.maximumHoldNanoseconds))
        let large = held.hold([WireBytes([UInt8](repeating: 0, count: HeldAnswers.maximumBytes + 1))], ranFor: 500, now: 3_000)
        #expect(!large)
        let sent = held.take(after: [9])
        #expect(sent == [9, 1, 2, 3, 4])
        #expect(held.isEmpty)
        // Size alone makes them due.
        let full = held.hold([WireBytes([UInt8](repeating: 0, count: HeldAnswers.maximumBytes))], ranFor: 500, now: 5_000)
        #expect(full && held.isDue(now: 5_000))
        let rest = held.take()
        #expect(rest.count == HeldAnswers.maximumBytes)
        // The answer of a chunk that ran for the longest hold goes at once.
        let slow = held.hold([WireBytes([1])], ranFor: HeldAnswers.maximumHoldNanoseconds, now: 6_000)
        #expect(!slow && held.isEmpty)
    }
}
