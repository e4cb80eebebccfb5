// tunesmith's generation steps in C++: the arithmetic of models/scripted.py, bit for bit, in one call per token.
//
// Every product, normalisation, activation and softmax is the ATen or oneDNN kernel the TorchScript step calls, on
// the same tensors; what runs here instead of TorchScript's interpreter is the glue between them (slices, the
// rotation, the cache writes, the gate arithmetic, the cumulative sum of the draw) as plain loops. Each loop does
// the same IEEE operations in the same order as the ATen kernels it replaces: separate multiplies and adds where ATen
// has separate operations (built with -ffp-contract=off, so the compiler fuses none), one fused multiply-add where
// ATen's addcmul has one (its vectorised kernel fuses on CPUs with FMA, as the machines this was measured on; on a
// CPU without it the bit-for-bit tests would say so). States, logits and tokens are those of the TorchScript step
// (tests/test_native_steps.py). Built by `make install` (python -m tunesmith.native); tunesmith.native loads it.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <tuple>
#include <vector>

using at::Tensor;

namespace {

// x @ W.T + b on a weight packed for oneDNN (fused_rnn.onednn_pack): mkldnn::_linear_pointwise, as in Python.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("mkldnn::_linear_pointwise", "")
                       .typed<Tensor(const Tensor&, const Tensor&, const std::optional<Tensor>&, c10::string_view,
                                     c10::List<std::optional<c10::Scalar>>, std::optional<c10::string_view>)>();
  return op.call(x, w, b, "none", c10::List<std::optional<c10::Scalar>>(), c10::string_view(""));
}

// scripted.lstm_stack_step. state: h0, c0, h1, c1, ... each (1, B, H); returns (logits (B, 1, V), the new state).
std::tuple<Tensor, std::vector<Tensor>> lstm_step(const Tensor& tokens, const Tensor& embed, at::TensorList state,
                                                  at::TensorList weights, at::TensorList biases,
                                                  const Tensor& out_weight, const Tensor& out_bias) {
  TORCH_CHECK(embed.device().is_cpu() && embed.scalar_type() == at::kFloat, "lstm_step runs float32 on the CPU");
  Tensor x = at::embedding(embed, tokens.select(1, 0));  // (B, E)
  const int64_t b = x.size(0);
  std::vector<Tensor> next;
  next.reserve(state.size());
  for (size_t i = 0; i < weights.size(); ++i) {
    const Tensor h = state[2 * i].select(0, 0).contiguous(), c = state[2 * i + 1].select(0, 0).contiguous();
    const int64_t e = x.size(1), hs = h.size(1);
    Tensor joined = at::empty({b, e + hs}, x.options());  // torch.cat([x, h], 1)
    for (int64_t r = 0; r < b; ++r) {
      std::memcpy(joined.data_ptr<float>() + r * (e + hs), x.data_ptr<float>() + r * e, e * sizeof(float));
      std::memcpy(joined.data_ptr<float>() + r * (e + hs) + e, h.data_ptr<float>() + r * hs, hs * sizeof(float));
    }
    const Tensor gates = linear(joined, weights[i], biases[i]);  // (B, 4H): input, forget, cell, output
    const Tensor act = at::sigmoid(gates);
    const Tensor cell = at::tanh(gates.narrow(1, 2 * hs, hs)).contiguous();
    Tensor c_new = at::empty({b, hs}, x.options());
    const float *a = act.data_ptr<float>(), *g = cell.data_ptr<float>(), *cp = c.data_ptr<float>();
    float* cn = c_new.data_ptr<float>();
    for (int64_t r = 0; r < b; ++r)
      for (int64_t j = 0; j < hs; ++j) {  // addcmul(forget * c, input, tanh(cell))
        const float* ar = a + r * 4 * hs;
        const float kept = ar[hs + j] * cp[r * hs + j];
        cn[r * hs + j] = std::fma(ar[j], g[r * hs + j], kept);
      }
    const Tensor tanh_c = at::tanh(c_new);
    Tensor h_new = at::empty({b, hs}, x.options());
    const float* tc = tanh_c.data_ptr<float>();
    float* hn = h_new.data_ptr<float>();
    for (int64_t r = 0; r < b; ++r)
      for (int64_t j = 0; j < hs; ++j) hn[r * hs + j] = a[r * 4 * hs + 3 * hs + j] * tc[r * hs + j];
    next.push_back(h_new.unsqueeze(0));
    next.push_back(c_new.unsqueeze(0));
    x = h_new;
  }
  return {linear(x, out_weight, out_bias).unsqueeze(1), next};
}

// scripted.gru_stack_step. state: h of (1, B, H) per layer; weights 2 i, 2 i + 1: layer i's W_ih and W_hh.
std::tuple<Tensor, std::vector<Tensor>> gru_step(const Tensor& tokens, const Tensor& embed, at::TensorList state,
                                                 at::TensorList weights, at::TensorList biases,
                                                 const Tensor& out_weight, const Tensor& out_bias) {
  TORCH_CHECK(embed.device().is_cpu() && embed.scalar_type() == at::kFloat, "gru_step runs float32 on the CPU");
  Tensor x = at::embedding(embed, tokens.select(1, 0));
  const int64_t b = x.size(0);
  std::vector<Tensor> next;
  next.reserve(state.size());
  for (size_t i = 0; i < state.size(); ++i) {
    const Tensor h = state[i].select(0, 0).contiguous();
    const int64_t hs = h.size(1);
    const Tensor from_x = linear(x, weights[2 * i], biases[2 * i]);  // (B, 3H): reset, update, candidate
    const Tensor from_h = linear(h, weights[2 * i + 1], biases[2 * i + 1]);
    const float *fx = from_x.data_ptr<float>(), *fh = from_h.data_ptr<float>(), *hp = h.data_ptr<float>();
    Tensor gates = at::empty({b, 2 * hs}, x.options());
    float* gp = gates.data_ptr<float>();
    for (int64_t r = 0; r < b; ++r)
      for (int64_t j = 0; j < 2 * hs; ++j) gp[r * 2 * hs + j] = fx[r * 3 * hs + j] + fh[r * 3 * hs + j];
    gates.sigmoid_();
    Tensor candidate = at::empty({b, hs}, x.options());
    float* np = candidate.data_ptr<float>();
    for (int64_t r = 0; r < b; ++r)
      for (int64_t j = 0; j < hs; ++j) {  // addcmul(from_x's candidate, reset, from_h's candidate)
        np[r * hs + j] = std::fma(gp[r * 2 * hs + j], fh[r * 3 * hs + 2 * hs + j], fx[r * 3 * hs + 2 * hs + j]);
      }
    candidate.tanh_();
    Tensor h_new = at::empty({b, hs}, x.options());
    float* hn = h_new.data_ptr<float>();
    for (int64_t r = 0; r < b; ++r)
      for (int64_t j = 0; j < hs; ++j) {  // addcmul(candidate, update, h - candidate)
        const float n = np[r * hs + j];
        hn[r * hs + j] = std::fma(gp[r * 2 * hs + hs + j], hp[r * hs + j] - n, n);
      }
    next.push_back(h_new.unsqueeze(0));
    x = h_new;
  }
  return {linear(x, out_weight, out_bias).unsqueeze(1), next};
}

// scripted.transformer_blocks_step; returns (logits (B, V), keys and values kept: k0, v0, k1, v1, ...).
std::tuple<Tensor, std::vector<Tensor>> transformer_step(const Tensor& x_in, int64_t heads, double scale,
                                                         const Tensor& cos, const Tensor& sin, int64_t filled,
                                                         int64_t start, int64_t kept, at::TensorList norms,
                                                         at::ArrayRef<double> eps, at::TensorList weights,
                                                         at::TensorList biases, at::TensorList buffers) {
  for (const Tensor& buffer : buffers)
    TORCH_CHECK(buffer.device().is_cpu() && buffer.scalar_type() == at::kFloat && buffer.is_contiguous(),
                "transformer_step writes into contiguous float32 CPU buffers");
  Tensor x = x_in;
  const int64_t b = x.size(0), d = x.size(1), dh = d / heads, n = filled + 1 - start;
  const float scale_f = static_cast<float>(scale);  // mul_(scale) multiplies a float tensor by the float scale
  const float *cp = cos.contiguous().data_ptr<float>(), *sp = sin.contiguous().data_ptr<float>();
  std::vector<Tensor> kv;
  kv.reserve(buffers.size());
  Tensor q = at::empty({b * heads, 1, dh}, x.options());
  float* qp = q.data_ptr<float>();
  for (size_t i = 0; 2 * i < buffers.size(); ++i) {
    const Tensor &k_buf = buffers[2 * i], &v_buf = buffers[2 * i + 1];  // (B, h, N, dh), contiguous
    const int64_t rows = k_buf.size(2);
    Tensor normed = at::layer_norm(x, {d}, norms[4 * i], norms[4 * i + 1], eps[2 * i]);
    const Tensor both = linear(normed, weights[4 * i], biases[4 * i]);  // (B, 3 d): q, k, v
    const float* bp = both.data_ptr<float>();
    float *kp = k_buf.data_ptr<float>(), *vp = v_buf.data_ptr<float>();
    for (int64_t r = 0; r < b; ++r)
      for (int64_t h = 0; h < heads; ++h) {  // rotate q and k: x * cos + pairs_swapped(x) * sin; write k, v
        const float* qs = bp + r * 3 * d + h * dh;
        const float *ks = qs + d, *vs = qs + 2 * d;
        float* qd = qp + (r * heads + h) * dh;
        float* kd = kp + ((r * heads + h) * rows + filled) * dh;
        float* vd = vp + ((r * heads + h) * rows + filled) * dh;
        for (int64_t j = 0; j < dh; ++j) {
          const float q_cos = qs[j] * cp[j], q_sin = qs[j ^ 1] * sp[j];
          const float k_cos = ks[j] * cp[j], k_sin = ks[j ^ 1] * sp[j];
          qd[j] = q_cos + q_sin;
          kd[j] = k_cos + k_sin;
          vd[j] = vs[j];
        }
      }
    const Tensor keys = k_buf.narrow(2, start, n).transpose(-1, -2).reshape({b * heads, dh, n});
    const Tensor values = v_buf.narrow(2, start, n).reshape({b * heads, n, dh});
    Tensor scores = at::bmm(q, keys);  // (B h, 1, T), as matmul runs it
    float* sc = scores.data_ptr<float>();
    for (int64_t j = 0; j < scores.numel(); ++j) sc[j] *= scale_f;
    const Tensor y = at::bmm(at::softmax(scores, -1), values);
    x = linear(y.view({b, d}), weights[4 * i + 1], biases[4 * i + 1]).add_(x);
    normed = at::layer_norm(x, {d}, norms[4 * i + 2], norms[4 * i + 3], eps[2 * i + 1]);
    const Tensor hidden = at::gelu(linear(normed, weights[4 * i + 2], biases[4 * i + 2]));
    x = linear(hidden, weights[4 * i + 3], biases[4 * i + 3]).add_(x);
    kv.push_back(k_buf.narrow(2, kept, filled + 1 - kept));
    kv.push_back(v_buf.narrow(2, kept, filled + 1 - kept));
  }
  const Tensor normed = at::layer_norm(x, {d}, norms[norms.size() - 2], norms.back(), eps.back());
  return {linear(normed, weights.back(), biases.back()), kv};
}

// sample.softmax_draw: one index per row of (B, V) logits by inverting the cumulative distribution at a uniform
// draw. The cumulative sum is ATen's (a double accumulator, each partial sum rounded to float), read twice instead
// of stored: once for the total, once up to the first partial sum above u * total. Rows are summed side by side in
// lanes of 8, each row's own additions still in order, and groups of 8 rows on torch's threads.
Tensor softmax_draw(const Tensor& logits, std::optional<at::Generator> generator) {
  TORCH_CHECK(logits.device().is_cpu() && logits.scalar_type() == at::kFloat && logits.dim() == 2,
              "softmax_draw takes (B, V) float32 logits on the CPU");
  const Tensor probs = at::softmax(logits, -1).contiguous();
  const int64_t b = probs.size(0), v = probs.size(1);
  const Tensor u = at::rand({b, 1}, generator, probs.options());
  Tensor out = at::empty({b}, probs.options().dtype(at::kLong));
  const float *p = probs.data_ptr<float>(), *up = u.data_ptr<float>();
  int64_t* o = out.data_ptr<int64_t>();
  if (b == 1) {
    double acc = 0;
    for (int64_t i = 0; i < v; ++i) acc += p[i];
    const float total = static_cast<float>(acc);
    const float target = std::min(up[0] * total, std::nextafter(total, 0.0f));  // u * total may round up
    acc = 0;
    int64_t i = 0;
    while (i < v && !(static_cast<float>(acc += p[i]) > target)) ++i;
    o[0] = i;
    return out;
  }
  constexpr int64_t kLanes = 8;
  at::parallel_for(0, (b + kLanes - 1) / kLanes, 1, [&](int64_t first, int64_t last) {  // a group per thread
    for (int64_t group = first; group < last; ++group) {
      const int64_t r0 = group * kLanes, lanes = std::min(kLanes, b - r0);
      const float* row = p + r0 * v;
      double acc[kLanes] = {0};
      for (int64_t i = 0; i < v; ++i)
        for (int64_t k = 0; k < lanes; ++k) acc[k] += row[k * v + i];
      float target[kLanes];
      int64_t found[kLanes];
      for (int64_t k = 0; k < lanes; ++k) {
        const float total = static_cast<float>(acc[k]);
        target[k] = std::min(up[r0 + k] * total, std::nextafter(total, 0.0f));
        acc[k] = 0;
        found[k] = v;
      }
      int64_t open = lanes;
      for (int64_t i = 0; i < v && open > 0; ++i)
        for (int64_t k = 0; k < lanes; ++k) {
          acc[k] += row[k * v + i];
          if (found[k] == v && static_cast<float>(acc[k]) > target[k]) {
            found[k] = i;
            --open;
          }
        }
      for (int64_t k = 0; k < lanes; ++k) o[r0 + k] = found[k];
    }
  });
  return out;
}

}  // namespace

// Registered for every backend (the packed weights are oneDNN tensors); called under no_grad only.
TORCH_LIBRARY(tunesmith, m) {
  m.def(
      "lstm_step(Tensor tokens, Tensor embed, Tensor[] state, Tensor[] weights, Tensor[] biases, Tensor out_weight, "
      "Tensor out_bias) -> (Tensor, Tensor[])",
      &lstm_step);
  m.def(
      "gru_step(Tensor tokens, Tensor embed, Tensor[] state, Tensor[] weights, Tensor[] biases, Tensor out_weight, "
      "Tensor out_bias) -> (Tensor, Tensor[])",
      &gru_step);
  m.def(
      "transformer_step(Tensor x, int heads, float scale, Tensor cos, Tensor sin, int filled, int start, int kept, "
      "Tensor[] norms, float[] eps, Tensor[] weights, Tensor[] biases, Tensor[] buffers) -> (Tensor, Tensor[])",
      &transformer_step);
  m.def("softmax_draw(Tensor logits, Generator? generator) -> Tensor", &softmax_draw);
}
