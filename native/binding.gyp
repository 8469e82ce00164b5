{
  "targets": [
    {
      "target_name": "pipe_native",
      "sources": ["addon.cc", "gemm.cc", "elementwise.cc", "interrupts.cc"],
      "cflags_cc!": ["-fno-exceptions", "-O2", "-O3"],
      "cflags!": ["-O2", "-O3"],
      "cflags_cc": ["-O3", "-march=native", "-fopenmp", "-std=c++17", "-fno-math-errno"],
      "ldflags": ["-fopenmp"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
