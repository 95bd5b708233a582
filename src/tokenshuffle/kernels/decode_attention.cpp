// One query per row against a static KV cache: the attention of a decode step.
//
// q (B, H, hd) float32; k, v (B, Hkv, T, hd) float32 or bfloat16 (the cache, or its first T positions);
// key_bias (B, T) float32, 0 where a key may be seen and -inf elsewhere (left padding, unwritten
// positions); pos (1,) int64, the query's position. Only keys 0..min(T-1, pos) are read, so a compiled
// step that hands over the whole static cache reads no more than an eager one that slices it. Each
// task is one (row, kv head): the H/Hkv query heads that share it read its keys and values once.
// Scores, softmax and the weighted sum run in float32 (a bf16 cache is widened as it is read). Where the
// build defines TS_PREFETCH_BYTES (Intel CPUs, as for gemv.cpp) the key and value rows PREFETCH bytes ahead
// are asked into L2 as each row is read (-15 % time a layer there).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>
#include <immintrin.h>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace {

constexpr int64_t MAX_GROUP = 16;  // query heads per kv head
#ifndef TS_PREFETCH_BYTES
#define TS_PREFETCH_BYTES 0
#endif
// A task's keys are a short stream (~70 KB for 512 positions of a 64-wide head): 2 KB ahead measured best
// (1-16 KB tried on the Intel Xeon, inside a step's weight stream).
constexpr int64_t PREFETCH = TS_PREFETCH_BYTES > 0 ? 2048 : 0;  // 0: none

template <typename C>
inline void prefetch_row(const C* row, int64_t bytes) {  // the cache lines of one row, PREFETCH bytes on
  if constexpr (PREFETCH > 0) {
    const char* p = reinterpret_cast<const char*>(row) + PREFETCH;
    for (int64_t b = 0; b < bytes; b += 64) _mm_prefetch(p + b, _MM_HINT_T1);
  }
}

inline float widen(float v) { return v; }
inline float widen(at::BFloat16 v) { return static_cast<float>(v); }

// A cache row as float32: in place for a float32 cache, widened into buf for bf16.
inline const float* load_row(const float* src, float*, int64_t) { return src; }
inline const float* load_row(const at::BFloat16* src, float* dst, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512F__)
  for (; i + 16 <= n; i += 16) {
    __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
    _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)));
  }
#endif
  for (; i < n; ++i) dst[i] = widen(src[i]);
  return dst;
}

inline float dot(const float* a, const float* b, int64_t n) {
  int64_t i = 0;
  float s = 0.f;
#if defined(__AVX512F__)
  __m512 acc = _mm512_setzero_ps();
  for (; i + 16 <= n; i += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc);
  s = _mm512_reduce_add_ps(acc);
#endif
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

inline void axpy(float p, const float* x, float* y, int64_t n) {  // y += p * x
  int64_t i = 0;
#if defined(__AVX512F__)
  const __m512 pv = _mm512_set1_ps(p);
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_fmadd_ps(pv, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
#endif
  for (; i < n; ++i) y[i] += p * x[i];
}

#if defined(__AVX512F__)
inline __m512 load16(const float* p) { return _mm512_loadu_ps(p); }
inline __m512 load16(const at::BFloat16* p) {
  __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// e^x for 16 floats (x <= 0 here): 2^n * p(r), r = x - n ln2 in [-ln2/2, ln2/2], degree-6 polynomial,
// relative error ~2e-7; below -87 the result is 0.
inline __m512 exp16(__m512 x) {
  const __m512 lo = _mm512_set1_ps(-87.3f);
  const __mmask16 tiny = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ);
  x = _mm512_max_ps(x, lo);
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 y = _mm512_set1_ps(1.9875691500e-4f);
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.3981999507e-3f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(8.3334519073e-3f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.1665795894e-2f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.6666665459e-1f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(5.0000001201e-1f));
  y = _mm512_fmadd_ps(y, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.f)));
  const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  return _mm512_maskz_mov_ps(~tiny, _mm512_mul_ps(y, _mm512_castsi512_ps(e)));
}

// 16 float32 sums: lane i of the result is the sum of the 16 lanes of a[i] (a transposed reduction, 45
// shuffles and adds for 16 keys instead of one horizontal sum each).
inline __m512 sum16(const __m512 a[16]) {
  __m512 b[8], c[4], d[2];
  for (int i = 0; i < 8; ++i)  // per 128-bit lane: a[2i] and a[2i+1], 2 sums each
    b[i] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * i], a[2 * i + 1]), _mm512_unpackhi_ps(a[2 * i], a[2 * i + 1]));
  for (int i = 0; i < 4; ++i)  // per 128-bit lane: keys 4i..4i+3, one sum each
    c[i] = _mm512_add_ps(_mm512_shuffle_ps(b[2 * i], b[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_ps(b[2 * i], b[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  for (int i = 0; i < 2; ++i)  // 128-bit lanes: keys 8i..8i+3 twice, then 8i+4..8i+7 twice
    d[i] = _mm512_add_ps(_mm512_shuffle_f32x4(c[2 * i], c[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(c[2 * i], c[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
  return _mm512_add_ps(_mm512_shuffle_f32x4(d[0], d[1], _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_f32x4(d[0], d[1], _MM_SHUFFLE(3, 1, 3, 1)));  // keys 0..15 in order
}

// The same attention with head_dim = 16 * HC (up to 128) in registers, in one pass over blocks of 16 keys
// (an online softmax: a running maximum and sum, the weighted sum rescaled when the maximum grows), so each
// key and value row is read once, right after the other, and no score buffer is written; vector exp.
template <int HC, typename C>
void attend_fast(const float* qg, const C* kg, int64_t ks2, const C* vg, int64_t vs2, const float* bb, int64_t bs1,
                 int64_t n, int64_t group, float scale, float* out_g) {
  constexpr float NEG = -std::numeric_limits<float>::infinity();
  constexpr int64_t hd = 16 * HC;
  float m[MAX_GROUP], l[MAX_GROUP];
  alignas(64) float bias[16], p[16];
  for (int64_t j = 0; j < group; ++j) {
    m[j] = NEG, l[j] = 0.f;
    for (int64_t d = 0; d < hd; ++d) out_g[j * hd + d] = 0.f;  // the weighted sum, unnormalised
  }
  for (int64_t t0 = 0; t0 < n; t0 += 16) {
    const int64_t nb = std::min<int64_t>(16, n - t0);
    __mmask16 live = 0;  // keys of the block that may be seen
    for (int64_t i = 0; i < 16; ++i) {
      bias[i] = i < nb ? bb[(t0 + i) * bs1] : NEG;
      if (bias[i] != NEG) live |= static_cast<__mmask16>(1u << i);
    }
    if (!live) continue;
    for (int64_t i = 0; i < nb; ++i) prefetch_row(kg + (t0 + i) * ks2, hd * sizeof(C));
    for (int64_t j = 0; j < group; ++j) {
      __m512 q[HC], a[16];
      for (int c = 0; c < HC; ++c) q[c] = _mm512_mul_ps(_mm512_loadu_ps(qg + j * hd + 16 * c), _mm512_set1_ps(scale));
      for (int64_t i = 0; i < 16; ++i) {
        a[i] = _mm512_setzero_ps();
        if (!(live >> i & 1)) continue;  // never read: past the block's end or a key it may not see
        const C* kr = kg + (t0 + i) * ks2;
        for (int c = 0; c < HC; ++c) a[i] = _mm512_fmadd_ps(load16(kr + 16 * c), q[c], a[i]);
      }
      const __m512 sc = _mm512_mask_blend_ps(live, _mm512_set1_ps(NEG), _mm512_add_ps(sum16(a), _mm512_load_ps(bias)));
      const float top = std::max(m[j], _mm512_reduce_max_ps(sc));
      float* acc = out_g + j * hd;
      if (top > m[j]) {  // a new maximum: what was summed so far shrinks by e^(old - new)
        const float shrink = m[j] == NEG ? 0.f : std::exp(m[j] - top);
        for (int64_t d = 0; d < hd; ++d) acc[d] *= shrink;
        l[j] *= shrink, m[j] = top;
      }
      const __m512 e = exp16(_mm512_sub_ps(sc, _mm512_set1_ps(m[j])));  // 0 where sc = -inf
      l[j] += _mm512_reduce_add_ps(e);
      _mm512_store_ps(p, e);
      __m512 w[HC];
      for (int c = 0; c < HC; ++c) w[c] = _mm512_loadu_ps(acc + 16 * c);
      for (int64_t i = 0; i < nb; ++i) {
        if (p[i] == 0.f) continue;
        const C* vr = vg + (t0 + i) * vs2;
        if (j == 0) prefetch_row(vr, hd * sizeof(C));
        const __m512 pi = _mm512_set1_ps(p[i]);
        for (int c = 0; c < HC; ++c) w[c] = _mm512_fmadd_ps(pi, load16(vr + 16 * c), w[c]);
      }
      for (int c = 0; c < HC; ++c) _mm512_storeu_ps(acc + 16 * c, w[c]);
    }
  }
  for (int64_t j = 0; j < group; ++j) {
    const float inv = l[j] > 0.f ? 1.f / l[j] : 0.f;  // no key to see: zeros, not NaN
    for (int64_t d = 0; d < hd; ++d) out_g[j * hd + d] *= inv;
  }
}
#endif

template <typename C>
void attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& bias, int64_t n,
            float scale, at::Tensor& out) {
  const int64_t B = q.size(0), H = q.size(1), hd = q.size(2), Hkv = k.size(1);
  const int64_t group = H / Hkv;
  const float* qp = q.data_ptr<float>();
  const C* kp = k.data_ptr<C>();
  const C* vp = v.data_ptr<C>();
  const float* bp = bias.data_ptr<float>();
  float* op = out.data_ptr<float>();
  const int64_t ks0 = k.stride(0), ks1 = k.stride(1), ks2 = k.stride(2);
  const int64_t vs0 = v.stride(0), vs1 = v.stride(1), vs2 = v.stride(2);
  const int64_t bs0 = bias.stride(0), bs1 = bias.stride(1);
  at::parallel_for(0, B * Hkv, 1, [&](int64_t t0, int64_t t1) {
    std::vector<float> scores, row, acc;  // the general path's buffers, sized at its first task
    for (int64_t task = t0; task < t1; ++task) {
      const int64_t b = task / Hkv, g = task % Hkv;
      const float* qg = qp + (b * H + g * group) * hd;  // (group, hd)
      const C* kg = kp + b * ks0 + g * ks1;
      const C* vg = vp + b * vs0 + g * vs1;
      const float* bb = bp + b * bs0;
#if defined(__AVX512F__)
      if (hd % 16 == 0 && hd <= 128) {
        float* out_g = op + (b * H + g * group) * hd;
#define TS_ATTEND(HC) attend_fast<HC>(qg, kg, ks2, vg, vs2, bb, bs1, n, group, scale, out_g)
        switch (hd / 16) {
          case 1: TS_ATTEND(1); break;
          case 2: TS_ATTEND(2); break;
          case 3: TS_ATTEND(3); break;
          case 4: TS_ATTEND(4); break;
          case 5: TS_ATTEND(5); break;
          case 6: TS_ATTEND(6); break;
          case 7: TS_ATTEND(7); break;
          default: TS_ATTEND(8); break;
        }
#undef TS_ATTEND
        continue;
      }
#endif
      if (row.empty()) scores.resize(group * n), row.resize(hd), acc.resize(group * hd);
      std::vector<float> mx(group, -std::numeric_limits<float>::infinity());
      for (int64_t t = 0; t < n; ++t) {
        const float kb = bb[t * bs1];
        const float* kr = kb == -std::numeric_limits<float>::infinity() ? nullptr : load_row(kg + t * ks2, row.data(), hd);
        for (int64_t j = 0; j < group; ++j) {
          const float s = kr == nullptr ? kb : dot(qg + j * hd, kr, hd) * scale + kb;
          scores[j * n + t] = s;
          mx[j] = std::max(mx[j], s);
        }
      }
      std::vector<float> total(group, 0.f);
      for (int64_t j = 0; j < group; ++j)
        for (int64_t t = 0; t < n; ++t) {
          const float e = mx[j] == -std::numeric_limits<float>::infinity() ? 0.f : std::exp(scores[j * n + t] - mx[j]);
          scores[j * n + t] = e;
          total[j] += e;
        }
      std::fill(acc.begin(), acc.end(), 0.f);
      for (int64_t t = 0; t < n; ++t) {
        if (bb[t * bs1] == -std::numeric_limits<float>::infinity()) continue;
        const float* vr = load_row(vg + t * vs2, row.data(), hd);
        for (int64_t j = 0; j < group; ++j) axpy(scores[j * n + t], vr, acc.data() + j * hd, hd);
      }
      for (int64_t j = 0; j < group; ++j) {
        const float inv = total[j] > 0.f ? 1.f / total[j] : 0.f;  // no key to see: zeros, not NaN
        for (int64_t d = 0; d < hd; ++d) op[(b * H + g * group + j) * hd + d] = acc[j * hd + d] * inv;
      }
    }
  });
}

// -> (B, H, hd) float32
at::Tensor decode_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& key_bias,
                            const at::Tensor& pos, double scale) {
  TORCH_CHECK(q.device().is_cpu() && k.device().is_cpu() && v.device().is_cpu(), "tokenshuffle::decode_attention: CPU only");
  TORCH_CHECK(q.dim() == 3 && k.dim() == 4 && v.sizes() == k.sizes() && q.size(0) == k.size(0) && q.size(2) == k.size(3),
              "tokenshuffle::decode_attention: q (B, H, hd), k and v (B, Hkv, T, hd)");
  TORCH_CHECK(q.size(1) % k.size(1) == 0 && q.size(1) / k.size(1) <= MAX_GROUP,
              "tokenshuffle::decode_attention: H a multiple of Hkv, at most 16 query heads per kv head");
  TORCH_CHECK(key_bias.dim() == 2 && key_bias.size(0) == k.size(0) && key_bias.size(1) >= k.size(2) &&
              key_bias.scalar_type() == at::kFloat, "tokenshuffle::decode_attention: key_bias (B, T) float32");
  TORCH_CHECK(pos.numel() == 1, "tokenshuffle::decode_attention: one query position");
  TORCH_CHECK(k.scalar_type() == v.scalar_type() && k.stride(3) == 1 && v.stride(3) == 1,
              "tokenshuffle::decode_attention: k and v of one dtype, rows contiguous");
  const int64_t n = std::min<int64_t>(k.size(2), pos.item<int64_t>() + 1);
  TORCH_CHECK(n >= 1, "tokenshuffle::decode_attention: position ", pos.item<int64_t>(), " before the cache");
  auto qc = q.to(at::kFloat).contiguous();
  auto out = at::empty(q.sizes(), q.options().dtype(at::kFloat));
  if (k.scalar_type() == at::kFloat) {
    attend<float>(qc, k, v, key_bias, n, static_cast<float>(scale), out);
  } else {
    TORCH_CHECK(k.scalar_type() == at::kBFloat16, "tokenshuffle::decode_attention: a float32 or bfloat16 cache");
    attend<at::BFloat16>(qc, k, v, key_bias, n, static_cast<float>(scale), out);
  }
  return out;
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(tokenshuffle, m) {
  m.def("decode_attention(Tensor q, Tensor k, Tensor v, Tensor key_bias, Tensor pos, float scale) -> Tensor");
}

TORCH_LIBRARY_IMPL(tokenshuffle, CPU, m) {
  m.impl("decode_attention", decode_attention);
}
