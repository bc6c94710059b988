/// A fixed pool of worker threads for the kernels, owned by one model (or one tool) and joined
/// when its owner lets go of it.
///
/// Why not OpenBLAS' own threads: a multithreaded OpenBLAS GEMM mallocs its job table on every
/// call (Debian builds it for up to 64+ CPUs, which moves that table to the heap), so a training
/// step made ~160 allocations. Instead OpenBLAS runs single-threaded and the pool splits each GEMM
/// into per-thread blocks of rows or columns, and runs the memory-bound kernels in parallel too.
/// Dispatch: the caller publishes the job under a mutex and bumps an atomic generation; workers
/// spin on that generation for a short while after each job (a training step issues ~900 jobs
/// back to back, and a condition-variable wake-up costs tens of microseconds in a VM) and only
/// then sleep on a condition variable. Completion is an atomic countdown the caller spins on.
/// No allocation, no Dispatch, no existential.
///
/// Ownership: the workers hold a strong reference to the pool's `Core` (mutex, condition,
/// counters, current job), never to the `ThreadPool` itself. So the `ThreadPool` is freed as soon
/// as its owner drops it — even before a worker thread has started running — and its `deinit`
/// (or an explicit `shutdown()`) wakes the workers, which leave their loop, and joins them. No
/// thread outlives its pool, and no worker ever reads freed memory.
///
/// Threading contract: a pool serves **one caller at a time** and its jobs must not dispatch on
/// the same pool (no nested or concurrent `parallelFor`/`reduceRows`). A violation traps with a
/// message instead of deadlocking. A pool with one thread never dispatches: it runs every job
/// inline and touches no shared state, so `ThreadPool.serial` may be used from any thread.
#if canImport(Glibc)
import Glibc
#endif
import CBLAS
import Synchronization

public final class ThreadPool: @unchecked Sendable {
    public let threadCount: Int
    private let core: Core
    private var workers: [pthread_t] = []
    /// Per-thread reduction scratch (partial sums of batch-norm statistics and bias gradients).
    /// Only multi-threaded pools use it, and only from their one caller thread.
    @usableFromInline var scratchBase: UnsafeMutablePointer<Double>
    @usableFromInline var scratchPerThread: Int

    /// A single-threaded pool: the default for kernels called outside a model (tests, tools).
    /// Safe to share between threads: it never dispatches and never uses its scratch.
    public static let serial = ThreadPool(threads: 1, scratchDoubles: 0)

    /// The name of every worker thread (at most 15 bytes: Linux's limit).
    public static let workerThreadName = "kernel-worker"

    /// How many kernel worker threads this process has right now (from /proc/self/task; nil where
    /// that cannot be read). For diagnostics and the tests that prove pools join their threads.
    public static func liveWorkerThreads() -> Int? {
        guard let dir = opendir("/proc/self/task") else { return nil }
        defer { closedir(dir) }
        var count = 0
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name.first?.isNumber == true, let f = fopen("/proc/self/task/\(name)/comm", "r") else { continue }
            var buffer = [CChar](repeating: 0, count: 32)
            if fgets(&buffer, 32, f) != nil {
                var comm = String(cString: buffer)
                while comm.last == "\n" { comm.removeLast() }
                if comm == workerThreadName { count += 1 }
            }
            fclose(f)
        }
        return count
    }

    /// `liveWorkerThreads()` once it is at most `expected`, or its last reading after `seconds`. A
    /// joined thread can still be listed in /proc for a moment: `pthread_join` returns once the thread
    /// has cleared its tid, and the kernel drops its task entry a little later. A leaked thread never
    /// goes away, so a test that waits here still fails on a leak.
    public static func liveWorkerThreads(settlingTo expected: Int, within seconds: Double = 2) -> Int? {
        let deadline = monotonicSeconds() + seconds
        while true {
            guard let count = liveWorkerThreads() else { return nil }
            if count <= expected || monotonicSeconds() >= deadline { return count }
            usleep(1_000)
        }
    }

    /// `liveWorkerThreads()` once it has not changed for `quiet` seconds (at most `seconds` in all):
    /// the baseline a lifecycle test compares against, free of threads other tests joined a moment ago.
    public static func settledLiveWorkerThreads(quiet: Double = 0.05, within seconds: Double = 2) -> Int? {
        guard var last = liveWorkerThreads() else { return nil }
        var since = monotonicSeconds()
        let deadline = since + seconds
        while true {
            usleep(2_000)
            guard let count = liveWorkerThreads() else { return nil }
            let now = monotonicSeconds()
            if count != last { (last, since) = (count, now) } else if now - since >= quiet { return last }
            if now >= deadline { return last }
        }
    }

    /// The processors this process may run on: the default thread count of models and tools.
    public static let availableProcessors = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))

    /// What the workers share with the caller. Each worker retains it for as long as it runs.
    private final class Core: @unchecked Sendable {
        var job: ((UnsafeMutableRawPointer, Int) -> Void)?
        var jobContext: UnsafeMutableRawPointer?
        var generation = 0
        var shuttingDown = false
        /// `generation`, readable without the mutex (written under it).
        let published = Atomic<Int>(0)
        /// Workers still running the current job.
        let remaining = Atomic<Int>(0)
        /// Set while a job is dispatched: catches nested and concurrent dispatch.
        let busy = Atomic<Bool>(false)
        let mutex: UnsafeMutablePointer<pthread_mutex_t> = .allocate(capacity: 1)
        let workReady: UnsafeMutablePointer<pthread_cond_t> = .allocate(capacity: 1)

        init() {
            pthread_mutex_init(mutex, nil)
            pthread_cond_init(workReady, nil)
        }

        deinit {
            pthread_cond_destroy(workReady)
            pthread_mutex_destroy(mutex)
            mutex.deallocate(); workReady.deallocate()
        }

        /// Iterations a worker spins for the next job before sleeping (~tens of microseconds).
        static let spinLimit = 20_000

        func workerLoop(index: Int) {
            var seen = 0
            while true {
                var spins = 0
                while published.load(ordering: .acquiring) == seen && spins < Self.spinLimit { spins += 1 }
                pthread_mutex_lock(mutex)
                while generation == seen && !shuttingDown { pthread_cond_wait(workReady, mutex) }
                if shuttingDown { pthread_mutex_unlock(mutex); return }
                seen = generation
                var work = job
                let context = jobContext!
                pthread_mutex_unlock(mutex)
                work!(context, index)
                work = nil
                remaining.subtract(1, ordering: .releasing)
            }
        }
    }

    private final class WorkerStart {
        let core: Core
        let index: Int
        init(core: Core, index: Int) { self.core = core; self.index = index }
    }

    /// `threads`: the caller plus `threads - 1` workers. `scratchDoubles`: per-thread scratch the
    /// kernels may use for partial sums (2 × the widest layer); a kernel needing more grows it
    /// once, outside the steady state.
    public init(threads: Int, scratchDoubles: Int = 0) {
        threadCount = max(1, threads)
        scratchPerThread = max(scratchDoubles, 16)
        scratchBase = .allocate(capacity: scratchPerThread * threadCount)
        core = Core()
        BLASThreads.set(1)
        for index in 1..<threadCount {
            let retained = Unmanaged.passRetained(WorkerStart(core: core, index: index)).toOpaque()
            var thread = pthread_t()
            let rc = pthread_create(&thread, nil, { raw in
                // The thread's own strong reference to the core, released when it leaves the loop.
                let start = Unmanaged<WorkerStart>.fromOpaque(raw!).takeRetainedValue()
                // Named, so that tools (and the tests) can tell kernel threads from others.
                resnet_name_this_thread(ThreadPool.workerThreadName)
                start.core.workerLoop(index: start.index)
                return nil
            }, retained)
            if rc != 0 {
                Unmanaged<WorkerStart>.fromOpaque(retained).release()
                shutdown()
                fatalError("ThreadPool: cannot start kernel thread \(index) of \(threadCount): \(String(cString: strerror(rc)))")
            }
            workers.append(thread)
        }
    }

    deinit {
        shutdown()
        scratchBase.deallocate()
    }

    /// Stops and joins the worker threads (idempotent; `deinit` calls it). The pool must not be
    /// used afterwards. Call it from the thread that dispatches, never from inside a job.
    public func shutdown() {
        guard !workers.isEmpty else { return }
        pthread_mutex_lock(core.mutex)
        core.shuttingDown = true
        core.generation &+= 1
        core.published.store(core.generation, ordering: .releasing)
        pthread_cond_broadcast(core.workReady)
        pthread_mutex_unlock(core.mutex)
        for t in workers { pthread_join(t, nil) }
        workers.removeAll()
    }

    /// Runs `job(context, thread)` on every thread (the caller is thread 0) and returns when all
    /// have finished. Callers pass a non-capturing closure and their data through `context`: a
    /// capturing or `withoutActuallyEscaping` closure would cost a heap allocation per call.
    @usableFromInline
    func dispatch(_ context: UnsafeMutableRawPointer, _ body: @escaping (UnsafeMutableRawPointer, Int) -> Void) {
        let core = self.core
        guard core.busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            fatalError("ThreadPool: nested or concurrent dispatch; a pool serves one caller thread at a time and its jobs must not use the same pool")
        }
        pthread_mutex_lock(core.mutex)
        if core.shuttingDown { fatalError("ThreadPool: dispatch after shutdown()") }
        core.job = body
        core.jobContext = context
        core.remaining.store(threadCount - 1, ordering: .relaxed)
        core.generation &+= 1
        core.published.store(core.generation, ordering: .releasing)
        pthread_cond_broadcast(core.workReady)
        pthread_mutex_unlock(core.mutex)
        body(context, 0)
        var spins = 0
        while core.remaining.load(ordering: .acquiring) > 0 {
            spins += 1
            if spins > 4096 { sched_yield() }
        }
        pthread_mutex_lock(core.mutex)
        core.job = nil
        core.jobContext = nil
        pthread_mutex_unlock(core.mutex)
        core.busy.store(false, ordering: .releasing)
    }

    /// Makes sure every thread has `count` Doubles of scratch (reallocates only when growing).
    @inlinable
    public func reserveScratch(_ count: Int) {
        guard count > scratchPerThread else { return }
        scratchBase.deallocate()
        scratchPerThread = count
        scratchBase = .allocate(capacity: count * threadCount)
    }

    /// Column sums over rows, in parallel: each thread accumulates `body(context, rows, partial)`
    /// into its own zeroed `width`-wide partial, and the partials are added into `out`.
    /// `body` must not capture anything (pass data through `context`).
    @inlinable
    public func reduceRows<C>(_ rows: Int, width: Int, into out: UnsafeMutablePointer<Double>, _ context: C,
                              _ body: @escaping (UnsafePointer<C>, Range<Int>, UnsafeMutablePointer<Double>) -> Void) {
        let threads = min(threadCount, max(1, rows / 64))
        if threads <= 1 {
            // Inline, straight into `out`: the serial pool's scratch is never touched, so it
            // can be shared between threads.
            out.update(repeating: 0, count: width)
            withUnsafePointer(to: context) { body($0, 0..<rows, out) }
            return
        }
        reserveScratch(width)
        withUnsafePointer(to: context) { contextPointer in
            parallelFor(threads, (contextPointer, body, scratchBase, scratchPerThread, rows, threads, width)) { jPointer, parts in
                let j = jPointer.pointee
                for t in parts {
                    let part = j.2 + t * j.3
                    part.update(repeating: 0, count: j.6)
                    j.1(j.0, chunk(j.4, parts: j.5, index: t, align: 1), part)
                }
            }
        }
        out.update(from: scratchBase, count: width)
        for t in 1..<threads {
            let part = scratchBase + t * scratchPerThread
            for j in 0..<width { out[j] += part[j] }
        }
    }

    /// Splits 0..<count into `threadCount` contiguous chunks (multiples of `align`) and runs
    /// `body(context, range)` on each in parallel; small work runs inline. `body` must not capture
    /// anything (pass data through `context`), so a call allocates nothing.
    @inlinable
    ///
    /// The body receives the context by pointer: a function type that mentions the generic `C`
    /// only inside `UnsafePointer<C>` lowers the same for every `C`, so storing it for the
    /// workers needs no reabstraction thunk (which would be a heap allocation per call).
    public func parallelFor<C>(_ count: Int, align: Int = 1, minimumPerThread: Int = 1, _ context: C,
                               _ body: @escaping (UnsafePointer<C>, Range<Int>) -> Void) {
        let threads = min(threadCount, max(1, count / max(minimumPerThread, 1)))
        withUnsafePointer(to: context) { contextPointer in
            if threads <= 1 { body(contextPointer, 0..<count); return }
            var job = (contextPointer, body, count, align, threads)
            withUnsafeMutablePointer(to: &job) { p in
                dispatch(UnsafeMutableRawPointer(p)) { raw, thread in
                    let j = raw.assumingMemoryBound(to: (UnsafePointer<C>, (UnsafePointer<C>, Range<Int>) -> Void, Int, Int, Int).self).pointee
                    guard thread < j.4 else { return }
                    let r = chunk(j.2, parts: j.4, index: thread, align: j.3)
                    if !r.isEmpty { j.1(j.0, r) }
                }
            }
        }
    }
}

@inlinable
func chunk(_ count: Int, parts: Int, index: Int, align: Int) -> Range<Int> {
    let units = (count + align - 1) / align
    let lo = units * index / parts * align, hi = min(count, units * (index + 1) / parts * align)
    return min(lo, count)..<hi
}

/// C ← α·op(A)·op(B) + β·C, with the larger output dimension split across the pool's threads,
/// each block a single-threaded OpenBLAS call.
@inlinable
public func parallelGEMM<T: NetScalar>(_ pool: ThreadPool, transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                                       alpha: T, a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int,
                                       beta: T, c: UnsafeMutablePointer<T>, ldc: Int) {
    let work = Double(m) * Double(n) * Double(k)
    if work <= smallGEMMLimit {
        smallGEMM(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                  beta: beta, c: c, ldc: ldc)
        return
    }
    if pool.threadCount == 1 || work < 2e6 {
        T.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
               beta: beta, c: c, ldc: ldc)
        return
    }
    let shape = (transA, transB, m, n, k, alpha, beta)
    let operands = (a, lda, b, ldb, c, ldc)
    if m >= n {
        pool.parallelFor(m, align: 16, minimumPerThread: 16, (shape, operands)) { ctxPointer, rows in
            let ctx = ctxPointer.pointee
            let (s, o) = ctx
            T.gemm(transA: s.0, transB: s.1, m: rows.count, n: s.3, k: s.4, alpha: s.5,
                   a: s.0 ? o.0 + rows.lowerBound : o.0 + rows.lowerBound * o.1, lda: o.1, b: o.2, ldb: o.3,
                   beta: s.6, c: o.4 + rows.lowerBound * o.5, ldc: o.5)
        }
    } else {
        pool.parallelFor(n, align: 16, minimumPerThread: 16, (shape, operands)) { ctxPointer, cols in
            let ctx = ctxPointer.pointee
            let (s, o) = ctx
            T.gemm(transA: s.0, transB: s.1, m: s.2, n: cols.count, k: s.4, alpha: s.5, a: o.0, lda: o.1,
                   b: s.1 ? o.2 + cols.lowerBound * o.3 : o.2 + cols.lowerBound, ldb: o.3,
                   beta: s.6, c: o.4 + cols.lowerBound, ldc: o.5)
        }
    }
}

/// GEMMs up to this many multiply-adds run in `smallGEMM`: OpenBLAS' AVX-512 "small matrix"
/// kernels (taken for m·n·k ≤ 100³) malloc a buffer on every call.
public let smallGEMMLimit = 1_000_000.0

/// Plain row-major GEMM for small products (the classifier head, tiny test models).
@inlinable
public func smallGEMM<T: NetScalar>(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: T,
                                    a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int,
                                    beta: T, c: UnsafeMutablePointer<T>, ldc: Int) {
    for i in 0..<m {
        let ci = c + i * ldc
        if beta == 0 { ci.update(repeating: 0, count: n) } else if beta != 1 { for j in 0..<n { ci[j] *= beta } }
        for p in 0..<k {
            let aip = alpha * (transA ? a[p * lda + i] : a[i * lda + p])
            if aip == 0 { continue }
            if transB {
                for j in 0..<n { ci[j] += aip * b[j * ldb + p] }
            } else {
                let bp = b + p * ldb
                for j in 0..<n { ci[j] += aip * bp[j] }
            }
        }
    }
}
