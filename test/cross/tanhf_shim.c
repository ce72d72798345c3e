// A tanhf of plain IEEE operations (no libm call, no FMA), preloaded into a
// program to take the place of the C library's: x86-64's and aarch64's
// glibc tanhf differ in the last bit for a few inputs (13 of the 65536 f16
// values; llama.cpp's GELU table and the final softcap call it), so with
// this in both, an aarch64 program and an x86 one must agree bit for bit.
// Build: cc -O2 -ffp-contract=off -shared -fPIC tanhf_shim.c -o tanhf_shim.so
float tanhf(float x) {
  double a = x < 0 ? -(double)x : (double)x;
  if (a > 20.0)
    return x < 0 ? -1.0f : 1.0f;
  // e^(2a) = (e^(2a / 2^k))^(2^k), the inner one by its Taylor series.
  int k = 0;
  double y = 2.0 * a;
  while (y > 0.5) {
    y *= 0.5;
    ++k;
  }
  double term = 1.0, sum = 1.0;
  for (int n = 1; n < 20; ++n) {
    term = term * y / n;
    sum = sum + term;
  }
  for (int i = 0; i < k; ++i)
    sum = sum * sum;
  const double t = (sum - 1.0) / (sum + 1.0);
  return (float)(x < 0 ? -t : t);
}
