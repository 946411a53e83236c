import Foundation

/// SIGINT and SIGTERM for `meshstep chat`, which must say goodbye while its main thread sits in
/// `readLine` (the resolver, all async, uses swift-service-lifecycle's `ServiceGroup`).
///
/// ``block()`` must run before the command starts any thread (an event loop, Dispatch): threads
/// inherit the blocked mask, so no thread ever takes the signal's default action or drops it,
/// and one thread of ours takes it with `sigwait`. That works whatever the main thread is doing,
/// including sitting in `readLine` on an open terminal.
enum ShutdownSignals {
    private static var set: sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        return set
    }

    /// Blocks SIGINT and SIGTERM in the calling thread and every thread it starts from now on.
    static func block() {
        var mask = set
        pthread_sigmask(SIG_BLOCK, &mask, nil)
    }

    /// Calls `handler` on a thread of its own with the first SIGINT or SIGTERM; a second signal
    /// while the handler runs ends the process at once (exit status 128 + signal).
    static func onSignal(_ handler: @escaping @Sendable (Int32) -> Void) {
        Thread.detachNewThread {
            var mask = set
            var number: Int32 = 0
            guard sigwait(&mask, &number) == 0 else { return }
            Thread.detachNewThread {
                var mask = set
                var again: Int32 = 0
                if sigwait(&mask, &again) == 0 { exit(128 + again) }
            }
            handler(number)
        }
    }
}
