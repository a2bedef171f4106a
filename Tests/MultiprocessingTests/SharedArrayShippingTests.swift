import Testing

@testable import Multiprocessing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The copy of shared arrays to a host that cannot map them, both ends in this process: what
/// rank 0 ships with a chunk, what the serving rank makes of it, and what its answer writes back.
/// The MPI tests run the same over real ranks.
@Suite("shared arrays copied where they cannot be shared")
struct SharedArrayShippingTests {
    /// A task input holding slices among other fields, as a user's type would.
    struct Tiles: Codable {
        var name: String
        var first: SharedArray<UInt8>.Slice
        var second: SharedArray<UInt8>.Slice
        var table: SharedArray<Int32>
    }

    @Test("a slice's handle is found in encoded bytes with the bytes it refers to, and renamed without moving anything")
    func findAndRename() throws {
        let image = try SharedArray<UInt8>(count: 4096)
        let table = try SharedArray<Int32>(count: 100)
        let input = Tiles(name: "x", first: image[100..<200], second: image[1000..<1024], table: table)
        var bytes = try BinaryEncoder().encode([input])
        let sites = bytes.withUnsafeBytes { EncodedHandles.find(machine: SharedMemoryHandle.thisMachine, owner: getpid(), in: $0) }
        #expect(sites.map(\.handle.id) == [image.memory.handle.id, image.memory.handle.id, table.memory.handle.id])
        #expect(sites.map(\.handle.referenced) == [100..<200, 1000..<1024, 0..<400])
        // Another process's or another machine's handles are not this process's.
        let otherOwner = bytes.withUnsafeBytes { EncodedHandles.find(machine: SharedMemoryHandle.thisMachine, owner: getpid() + 1, in: $0) }
        #expect(otherOwner.isEmpty)

        let other = try SharedArray<UInt8>(count: 4096)
        let count = bytes.count
        bytes.withUnsafeMutableBytes { EncodedHandles.rename(at: sites[0].offset, in: $0, to: other.memory.handle) }
        #expect(bytes.count == count)
        let decoded = try BinaryDecoder().decode([Tiles].self, from: bytes)
        #expect(decoded[0].first.base.memory === other.memory && decoded[0].first.range == 100..<200)
        #expect(decoded[0].second.base.memory === image.memory && decoded[0].table.memory === table.memory)
    }

    @Test("a message without shared arrays goes as it is")
    func nothingToShip() throws {
        let message = try BinaryEncoder().encode(Array(0..<1000))
        // This process holds an array, so the message is searched, and nothing is found.
        let held = try SharedArray<UInt8>(count: 16)
        withExtendedLifetime(held) { #expect(SharedArrayShipping.ship(message) == nil) }
    }

    @Test("shipped: the copies hold the referenced bytes; written and answered, the originals get exactly those writes")
    func roundTrip() throws {
        let image = try SharedArray<UInt8>((0..<4096).map { UInt8(truncatingIfNeeded: $0) })
        let frozen = try SharedArray<Int32>((0..<100).map { Int32($0) })
        try frozen.freeze()
        let input = Tiles(name: "tiles", first: image[100..<200], second: image[150..<300], table: frozen)
        let message = try BinaryEncoder().encode([input])
        let shipped = try #require(SharedArrayShipping.ship(message))
        // The overlapping slices' bytes go once: 100..<300, and the frozen table's 400 bytes.
        #expect(shipped.count < message.count + 200 + 400 + 128, "\(shipped.count) bytes for \(message.count)")

        let (patched, made) = try SharedArrayCopies.receive(shipped[...])
        let copies = try made.get()
        #expect(patched.count == message.count)
        let received = try BinaryDecoder().decode([Tiles].self, from: patched)[0]
        // The copies are other memory, with the referenced bytes and zeros elsewhere.
        #expect(received.first.base.memory !== image.memory && received.table.memory !== frozen.memory)
        #expect(received.first.base.memory === received.second.base.memory)
        #expect(received.first.withUnsafeBufferPointer { Array($0) } == (100..<200).map { UInt8(truncatingIfNeeded: $0) })
        #expect(received.first.base[99] == 0 && received.first.base[300] == 0)
        #expect(received.table.toArray() == (0..<100).map { Int32($0) } && received.table.isReadOnly)
        #expect(throws: SharedArrayError.readOnly) { try received.table.withUnsafeMutableBufferPointer { _ in } }

        try received.second.withUnsafeMutableBufferPointer { bytes in
            for i in bytes.indices { bytes[i] = 7 }
        }
        // The caller changes a byte the copy holds but no task writes: the answer keeps it.
        image[120] = 99
        // A failed chunk sends nothing back.
        let result = try BinaryEncoder().encode([received.first])
        _ = try SharedArrayShipping.receiveAnswer(copies.answer(result, writeBack: false)[...])
        #expect(image[150] == 150 && image[299] == UInt8(truncatingIfNeeded: 299))

        // A successful one sends the writable copies' bytes, and the handles it returns name
        // the originals again.
        let answered = try SharedArrayShipping.receiveAnswer(copies.answer(result, writeBack: true)[...])
        #expect(image[99] == 99 && image[100] == 100 && image[149] == 149 && image[120] == 99)
        #expect(image[150] == 7 && image[299] == 7 && image[300] == UInt8(truncatingIfNeeded: 300))
        let returned = try BinaryDecoder().decode([SharedArray<UInt8>.Slice].self, from: answered)
        #expect(returned[0].base.memory === image.memory && returned[0].range == 100..<200)
        #expect(frozen.toArray() == (0..<100).map { Int32($0) })
    }

    @Test("an answer for an array released meanwhile writes nothing and still yields its message")
    func releasedBeforeTheAnswer() throws {
        var answer: [UInt8] = []
        do {
            let image = try SharedArray<UInt8>(count: 1024)
            let message = try BinaryEncoder().encode([image[0..<512]])
            let (_, made) = try SharedArrayCopies.receive(try #require(SharedArrayShipping.ship(message))[...])
            answer = try made.get().answer([1, 2, 3], writeBack: true)
        }
        #expect(Array(try SharedArrayShipping.receiveAnswer(answer[...])) == [1, 2, 3])
    }

    @Test("only the bytes that differ from what came go back, in runs")
    func changedRuns() throws {
        let image = try SharedArray<UInt8>(count: 1000)
        let (_, made) = try SharedArrayCopies.receive(
            try #require(SharedArrayShipping.ship(try BinaryEncoder().encode([image[0..<1000]])))[...])
        let copy = try made.get().copies[0]
        for i in [5, 6, 7, 64, 65, 500, 999] { copy.local.base.storeBytes(of: 1, toByteOffset: i, as: UInt8.self) }
        #expect(SharedArrayCopies.changes(of: copy) == [5..<8, 64..<66, 500..<501, 999..<1000])
    }

    @Test("an answer whose changed bytes would exceed the message limit is refused with why, not sent")
    func oversizeAnswer() throws {
        let image = try SharedArray<UInt8>(count: 4096)
        let (_, made) = try SharedArrayCopies.receive(
            try #require(SharedArrayShipping.ship(try BinaryEncoder().encode([image[0..<4096]])))[...])
        let copies = try made.get()
        // Every other byte changed: one run per changed byte, the costliest pattern.
        for i in stride(from: 0, to: 4096, by: 2) { copies.copies[0].local.base.storeBytes(of: 1, toByteOffset: i, as: UInt8.self) }
        #expect(SharedArrayCopies.changes(of: copies.copies[0], budget: 1000) == nil)
        #expect(SharedArrayCopies.changes(of: copies.copies[0])?.count == 2048)
        let error = #expect(throws: PoolError.self) { try copies.answer([1, 2, 3], writeBack: true, limit: 8192) }
        #expect(error?.code == .messageTooLarge)
        #expect(error?.message.contains("smaller slices") == true)
        // Under a limit it fits, the same answer goes and writes exactly the changed bytes.
        let answer = try copies.answer([1, 2, 3], writeBack: true, limit: 1 << 20)
        #expect(Array(try SharedArrayShipping.receiveAnswer(answer[...])) == [1, 2, 3])
        #expect((0..<4096).allSatisfy { image[$0] == ($0 % 2 == 0 ? 1 : 0) })
        // Without write-back nothing is counted but the message.
        #expect(throws: Never.self) { try copies.answer([1, 2, 3], writeBack: false, limit: 64) }
    }

    @Test("byte ranges are sorted and joined where they touch or overlap")
    func merge() {
        #expect(SharedArrayShipping.merge([10..<20, 0..<5, 15..<30, 30..<31, 40..<40, 50..<60]) == [0..<5, 10..<31, 50..<60])
    }
}
