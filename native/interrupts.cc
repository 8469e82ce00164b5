// Ctrl-C while JavaScript is busy. Node delivers SIGINT to JavaScript through the event loop, which a
// synchronous training or sampling loop never yields to, so a `process.on("SIGINT")` listener runs
// only after the whole loop. pipe_watch_interrupts() puts a handler in front of libuv's: it counts the
// signal (read synchronously with pipe_interrupt_count()) and then calls the previous handler, so
// Node's own handling is unchanged. Call it after a JS SIGINT listener exists: libuv installs its
// handler then, replacing whatever was there.
#include <signal.h>

#include <atomic>

namespace {

std::atomic<int> g_interrupts{0};
struct sigaction g_previous;
bool g_watching = false;

void on_sigint(int sig, siginfo_t* info, void* context) {
  g_interrupts.fetch_add(1, std::memory_order_relaxed);
  if (g_previous.sa_flags & SA_SIGINFO) {
    if (g_previous.sa_sigaction != nullptr) g_previous.sa_sigaction(sig, info, context);
  } else if (g_previous.sa_handler == SIG_DFL) {
    signal(sig, SIG_DFL);  // no JS listener: terminate as the default would
    raise(sig);
  } else if (g_previous.sa_handler != SIG_IGN && g_previous.sa_handler != nullptr) {
    g_previous.sa_handler(sig);
  }
}

}  // namespace

extern "C" int pipe_watch_interrupts() {
  if (!g_watching) {
    struct sigaction sa {};
    sa.sa_sigaction = on_sigint;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, &g_previous) == 0) g_watching = true;
  }
  return g_watching ? 1 : 0;
}

extern "C" int pipe_interrupt_count() { return g_interrupts.load(std::memory_order_relaxed); }
