// Few-row products for the decode step: out (M, N) = x (M, K) @ w (N, K)^T, M <= 16, float32 or bfloat16.
//
// A decode step multiplies 1-4 rows by each weight, so its time is the time to stream the weights from
// memory once. Each thread takes a contiguous run of weight rows and reads them in order, one sequential
// stream the hardware prefetcher follows (torch's CPU kernels pack the weight first or read it in
// blocks of rows, several short streams); for each weight row every x row keeps 4 independent float32
// sums in registers, and x (at most 16 x K) stays in cache. Compiled on the machine that runs it
// (-march=native): AVX-512 for bf16 (AVX512_BF16's pair dot product where the CPU has it), AVX2 for
// float32, and a plain loop; every path sums in float32. Where the build defines TS_PREFETCH_BYTES (on
// Intel CPUs, kernels/__init__.py), each step also asks for the weight line that many bytes ahead into L2:
// on a 2-core Intel Xeon with AMX that lifts the stream from ~16-20 to ~23-26 GB/s (an Intel core keeps too
// few misses in flight for its own prefetchers to fill its share of the bandwidth); on an AMD EPYC (Zen 4)
// software prefetch measured no faster, so AMD builds leave it out.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>
#include <immintrin.h>
#include <algorithm>
#include <cstdint>
#include <type_traits>

namespace {

constexpr int64_t CHUNK = 64;     // bytes a vector step reads of one row
constexpr int64_t MAX_ROWS = 16;  // rows of x
#ifndef TS_PREFETCH_BYTES
#define TS_PREFETCH_BYTES 0
#endif
constexpr int64_t PREFETCH = TS_PREFETCH_BYTES;  // 0: none

template <typename T> constexpr int64_t lanes() { return CHUNK / sizeof(T); }

inline float to_float(float v) { return v; }
inline float to_float(at::BFloat16 v) { return static_cast<float>(v); }

// Vector types, one set per ISA; XChunk<T> holds one CHUNK of a row in registers and fma(other, acc)
// adds this * other to float32 sums.
struct Scalar {
  struct Vec { float v; };
  static Vec zero() { return {0.f}; }
  static Vec add(Vec a, Vec b) { return {a.v + b.v}; }
  static float sum(Vec v) { return v.v; }
  template <typename T> struct XChunk {
    const T* p;
    XChunk() = default;
    explicit XChunk(const T* q) : p(q) {}
    Vec fma(const XChunk& o, Vec acc) const {
      for (int64_t i = 0; i < lanes<T>(); ++i) acc.v += to_float(p[i]) * to_float(o.p[i]);
      return acc;
    }
  };
};

#if defined(__AVX2__) && defined(__FMA__)
struct Avx2 {
  using Vec = __m256;
  static Vec zero() { return _mm256_setzero_ps(); }
  static Vec add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
  static float sum(Vec v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
  }
  static Vec load8(const float* p) { return _mm256_loadu_ps(p); }
  static Vec load8(const at::BFloat16* p) {
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  template <typename T> struct XChunk {
    Vec v[lanes<T>() / 8];
    XChunk() = default;
    explicit XChunk(const T* p) { for (int64_t i = 0; i < lanes<T>() / 8; ++i) v[i] = load8(p + 8 * i); }
    Vec fma(const XChunk& o, Vec acc) const {
      for (int64_t i = 0; i < lanes<T>() / 8; ++i) acc = _mm256_fmadd_ps(v[i], o.v[i], acc);
      return acc;
    }
  };
};
#endif

#if defined(__AVX512F__)
struct Avx512 {
  using Vec = __m512;
  static Vec zero() { return _mm512_setzero_ps(); }
  static Vec add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
  static float sum(Vec v) { return _mm512_reduce_add_ps(v); }
  static __m512 bf16_lo(const at::BFloat16* p) {  // 16 bf16 -> 16 float
    __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  template <typename T> struct XChunk;  // bf16 only: float32 runs on Avx2 (IsaFor)
};
#if defined(__AVX512BF16__)
template <> struct Avx512::XChunk<at::BFloat16> {
  __m512bh v;
  XChunk() = default;
  explicit XChunk(const at::BFloat16* p) : v((__m512bh)_mm512_loadu_si512(p)) {}
  Vec fma(const XChunk& o, Vec acc) const { return _mm512_dpbf16_ps(acc, v, o.v); }
};
#else
template <> struct Avx512::XChunk<at::BFloat16> {
  __m512 lo, hi;
  XChunk() = default;
  explicit XChunk(const at::BFloat16* p) : lo(bf16_lo(p)), hi(bf16_lo(p + 16)) {}
  Vec fma(const XChunk& o, Vec acc) const { return _mm512_fmadd_ps(hi, o.hi, _mm512_fmadd_ps(lo, o.lo, acc)); }
};
#endif
#endif

// The ISA each dtype runs on. bf16 takes AVX-512 (AVX512_BF16's pair dot product where the CPU has it).
// float32 takes 256-bit vectors even where AVX-512 is built: on an AMD EPYC with AVX-512 (Zen 4, which
// splits 512-bit loads in two) a 256-bit stream reads 5-10 % faster, here and in a plain sum.
#if defined(__AVX512F__)
constexpr const char* kPath = "avx512";
template <typename T> using IsaFor = std::conditional_t<std::is_same_v<T, float>, Avx2, Avx512>;
#elif defined(__AVX2__) && defined(__FMA__)
constexpr const char* kPath = "avx2";
template <typename T> using IsaFor = Avx2;
#else
constexpr const char* kPath = "scalar";
template <typename T> using IsaFor = Scalar;
#endif

// Row-major weight, one row at a time (one sequential stream per thread): U independent sums per x row.
template <int MB, typename T>
void row_dot(const T* w, const T* x, int64_t ldx, int64_t K, float* out_m, int64_t ldo) {
  using Isa = IsaFor<T>;
  using Vec = typename Isa::Vec;
  using XChunk = typename Isa::template XChunk<T>;
  constexpr int64_t L = lanes<T>();
  constexpr int U = 4;
  Vec a[U][MB];
  for (int u = 0; u < U; ++u)
    for (int m = 0; m < MB; ++m) a[u][m] = Isa::zero();
  int64_t k = 0;
  for (; k + U * L <= K; k += U * L) {
    if constexpr (PREFETCH > 0) {  // past the row's end it reads on into the next row of this thread's run
      for (int u = 0; u < U; ++u) _mm_prefetch(reinterpret_cast<const char*>(w + k + u * L) + PREFETCH, _MM_HINT_T1);
    }
    for (int u = 0; u < U; ++u) {
      XChunk wv(w + k + u * L);
      for (int m = 0; m < MB; ++m) a[u][m] = wv.fma(XChunk(x + m * ldx + k + u * L), a[u][m]);
    }
  }
  for (; k + L <= K; k += L) {
    XChunk wv(w + k);
    for (int m = 0; m < MB; ++m) a[0][m] = wv.fma(XChunk(x + m * ldx + k), a[0][m]);
  }
  for (int m = 0; m < MB; ++m) {  // one horizontal sum per x row: each costs as much as a chunk's loads
    for (int u = 1; u < U; ++u) a[0][m] = Isa::add(a[0][m], a[u][m]);
    float s = Isa::sum(a[0][m]);
    for (int64_t kk = k; kk < K; ++kk) s += to_float(w[kk]) * to_float(x[m * ldx + kk]);
    out_m[m * ldo] = s;
  }
}

template <typename T>
void gemv_kernel(const T* x, const T* w, T* out, int64_t M, int64_t N, int64_t K) {
  at::parallel_for(0, N, 64, [&](int64_t n0, int64_t n1) {
    float acc[MAX_ROWS];
    for (int64_t n = n0; n < n1; ++n) {
      int64_t m0 = 0;
      for (; m0 + 4 <= M; m0 += 4) row_dot<4>(w + n * K, x + m0 * K, K, K, acc + m0, 1);
      if (m0 + 2 <= M) row_dot<2>(w + n * K, x + m0 * K, K, K, acc + m0, 1), m0 += 2;
      if (m0 < M) row_dot<1>(w + n * K, x + m0 * K, K, K, acc + m0, 1);
      for (int64_t m = 0; m < M; ++m) out[m * N + n] = static_cast<T>(acc[m]);
    }
  });
}

// x (M, K) @ weight (N, K)^T -> (M, N) in x's dtype.
at::Tensor gemv(const at::Tensor& x, const at::Tensor& weight) {
  TORCH_CHECK(x.device().is_cpu() && weight.device().is_cpu(), "tokenshuffle::gemv: CPU tensors only");
  TORCH_CHECK(x.dim() == 2 && weight.dim() == 2 && x.size(1) == weight.size(1),
              "tokenshuffle::gemv: x (M, K) and weight (N, K)");
  TORCH_CHECK(x.size(0) >= 1 && x.size(0) <= MAX_ROWS, "tokenshuffle::gemv: 1 to 16 rows of x, got ", x.size(0));
  TORCH_CHECK(x.scalar_type() == weight.scalar_type(), "tokenshuffle::gemv: x and weight of one dtype");
  auto xc = x.contiguous();
  auto wc = weight.contiguous();
  const int64_t M = x.size(0), N = weight.size(0), K = weight.size(1);
  auto out = at::empty({M, N}, x.options());
  if (x.scalar_type() == at::kFloat) {
    gemv_kernel<float>(xc.data_ptr<float>(), wc.data_ptr<float>(), out.data_ptr<float>(), M, N, K);
  } else {
    TORCH_CHECK(x.scalar_type() == at::kBFloat16, "tokenshuffle::gemv: float32 or bfloat16, got ", x.scalar_type());
    gemv_kernel<at::BFloat16>(xc.data_ptr<at::BFloat16>(), wc.data_ptr<at::BFloat16>(),
                              out.data_ptr<at::BFloat16>(), M, N, K);
  }
  return out;
}

std::string gemv_path() { return kPath; }

}  // namespace

TORCH_LIBRARY(tokenshuffle, m) {
  m.def("gemv(Tensor x, Tensor weight) -> Tensor");
  m.def("gemv_path() -> str");
}

TORCH_LIBRARY_IMPL(tokenshuffle, CPU, m) {
  m.impl("gemv", gemv);
}

TORCH_LIBRARY_IMPL(tokenshuffle, CompositeExplicitAutograd, m) {
  m.impl("gemv_path", gemv_path);
}

