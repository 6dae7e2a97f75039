// The FP32 FMA peak (GFLOP/s) of a CPU without AVX-512, on all OpenMP threads: the AVX2 counterpart of
// ../shared/tools/fma-peak.c (same method: 12 independent FMA chains per thread, best of 5), which needs AVX-512.
// Build and run: gcc -O3 -mavx2 -mfma -fopenmp fma-peak-avx2.c -o /tmp/fma-peak-avx2 && OMP_NUM_THREADS=2 /tmp/fma-peak-avx2
#include <immintrin.h>
#include <stdio.h>
#include <omp.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static float sum8(__m256 v) {
  float f[8]; _mm256_storeu_ps(f, v);
  return f[0] + f[1] + f[2] + f[3] + f[4] + f[5] + f[6] + f[7];
}
int main(void) {
  long iters = 200000000L / 8; double best = 0;
  for (int rep = 0; rep < 5; rep++) {
    double t0 = now(); float sink = 0;
    #pragma omp parallel reduction(+:sink)
    {
      __m256 a[12]; __m256 b = _mm256_set1_ps(1.0000001f), c = _mm256_set1_ps(0.9999999f);
      for (int k = 0; k < 12; k++) a[k] = _mm256_set1_ps((float) k);
      for (long i = 0; i < iters; i++) {
        #pragma GCC unroll 12
        for (int k = 0; k < 12; k++) a[k] = _mm256_fmadd_ps(a[k], b, c);
      }
      for (int k = 0; k < 12; k++) sink += sum8(a[k]);
    }
    double dt = now() - t0; int th = omp_get_max_threads();
    double gf = (double) iters * 12 * 8 * 2 * th / dt / 1e9; if (gf > best) best = gf;
    printf("threads=%d %.1f GFLOP/s (sink %g)\n", th, gf, sink);
  }
  printf("best %.1f GFLOP/s\n", best);
  return 0;
}
