// pipe_interrupts.node: Ctrl-C while JavaScript is busy, as its own tiny addon (portable POSIX, no
// SIMD, no OpenMP) so it loads wherever a C++ compiler exists, even when the kernel addon is
// missing or unusable. Node delivers SIGINT to JavaScript through the event loop, which a
// synchronous training or sampling loop never yields to, so a `process.on("SIGINT")` listener runs
// only after the whole loop. watchInterrupts() puts a handler in front of libuv's: it counts the
// signal (read synchronously with interrupts()) and then calls the previous handler, so Node's own
// handling is unchanged. Call it after a JS SIGINT listener exists: libuv installs its handler
// then, replacing whatever was there.
#include <node_api.h>
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

napi_value WatchInterrupts(napi_env env, napi_callback_info) {
  if (!g_watching) {
    struct sigaction sa {};
    sa.sa_sigaction = on_sigint;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, &g_previous) == 0) g_watching = true;
  }
  napi_value v;
  napi_get_boolean(env, g_watching, &v);
  return v;
}

napi_value Interrupts(napi_env env, napi_callback_info) {
  napi_value v;
  napi_create_int32(env, g_interrupts.load(std::memory_order_relaxed), &v);
  return v;
}

napi_value Init(napi_env env, napi_value exports) {
  const struct {
    const char* name;
    napi_callback fn;
  } fns[] = {{"watchInterrupts", WatchInterrupts}, {"interrupts", Interrupts}};
  for (const auto& f : fns) {
    napi_value v;
    napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.fn, nullptr, &v);
    napi_set_named_property(env, exports, f.name, v);
  }
  napi_value abi;
  napi_create_int32(env, 1, &abi);
  napi_set_named_property(env, exports, "abiVersion", abi);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
