import Multiprocessing

// The bench's pool tasks. They are internal (not private, fileprivate or local) on purpose:
// workers find a task type by its mangled name in their copy of this binary, and the mangled
// names of private and local types contain an address.

/// `def identity(x): return x`
struct Identity: PoolTask {
    func run(_ x: Int) async throws -> Int { x }
}

/// `def square(x): return x * x`
struct Square: PoolTask {
    func run(_ x: Int) async throws -> Int { x * x }
}

/// `identity` on a byte buffer (Python passes `bytes`).
struct EchoBytes: PoolTask {
    func run(_ buffer: [UInt8]) async throws -> [UInt8] { buffer }
}

/// `def count_primes(n)`: the same naive trial division as the Python peer.
struct CountPrimes: PoolTask {
    func run(_ n: Int) async throws -> Int { countPrimes(below: n) }
}

/// Counts primes below `n` by trial division: no sieve, no skipping of even divisors, so that
/// both languages run the identical loop and the comparison measures the pool.
@inline(never)
func countPrimes(below n: Int) -> Int {
    var count = 0
    var k = 2
    while k < n {
        var d = 2
        var isPrime = true
        while d * d <= k {
            if k % d == 0 {
                isPrime = false
                break
            }
            d += 1
        }
        if isPrime { count += 1 }
        k += 1
    }
    return count
}

let primesBelow30000 = 3245

/// Adds 1 to every byte of its slice of a shared array, in place (Python: `a += 1` on a numpy
/// view of a `SharedMemory`).
struct AddOneInPlace: PoolTask {
    func run(_ slice: SharedArray<UInt8>.Slice) async throws -> Int {
        try slice.withUnsafeMutableBufferPointer { bytes in
            for index in bytes.indices { bytes[index] &+= 1 }
        }
        return slice.count
    }
}
