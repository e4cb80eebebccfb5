// tunesmith's generation steps in C++: the arithmetic of models/scripted.py, bit for bit, in one call per token.
//
// Every product, normalisation, activation and softmax is the ATen or oneDNN kernel the TorchScript step calls, on
// the same tensors; what runs here instead of TorchScript's interpreter is the glue between them (slices, the
// rotation, the cache writes, the gate arithmetic, the cumulative sum of the draw) as plain loops. Each loop does
// the same IEEE operations in the same order as the ATen kernels it replaces: separate multiplies and adds where ATen
// has separate operations (built with -ffp-contract=off, so the compiler fuses none), one fused multiply-add where
// ATen's addcmul has one (its vectorised kernel fuses on CPUs with FMA, as the machines this was measured on; on a
// CPU without it the bit-for-bit tests would say so). States, logits and tokens are those of the TorchScript step
// (tests/test_native_steps.py). The *_run functions are sample.sample's loop around these steps, many tokens a call
// (run_tokens), the same tokens as its Python loop. Built by `make install` (python -m tunesmith.native);
// tunesmith.native loads it.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <tuple>
#include <vector>

using at::Tensor;

namespace {

// x @ W.T + b on a weight packed for oneDNN (fused_rnn.onednn_pack): mkldnn::_linear_pointwise, as in Python;
// with attr "gelu", fused_rnn.linear_gelu: the erf GELU applied as oneDNN writes the product.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b, c10::string_view attr = "none") {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("mkldnn::_linear_pointwise", "")
                       .typed<Tensor(const Tensor&, const Tensor&, const std::optional<Tensor>&, c10::string_view,
                                     c10::List<std::optional<c10::Scalar>>, std::optional<c10::string_view>)>();
  const c10::string_view algorithm = attr == "gelu" ? "none" : "";
  return op.call(x, w, b, attr, c10::List<std::optional<c10::Scalar>>(), algorithm);
}

// fused_rnn.linear_add: x @ W.T + b + other, other added as oneDNN writes the product.
Tensor linear_add(const Tensor& x, const Tensor& other, const Tensor& w, const Tensor& b) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("mkldnn::_linear_pointwise", "binary")
                       .typed<Tensor(const Tensor&, const Tensor&, const Tensor&, const std::optional<Tensor>&,
                                     c10::string_view)>();
  return op.call(x, other, w, b, "add");
}

// torch.layer_norm over the last dimension of x (B, d): at::layer_norm's own kernel, native_layer_norm, called
// directly (its mean and inverse deviation, which it returns too, are dropped).
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  return std::get<0>(at::native_layer_norm(x, {x.size(-1)}, weight, bias, eps));
}

// torch.embedding(embed, tokens[:, 0]) for (B, 1) tokens: the rows copied, (B, E).
Tensor embed_rows(const Tensor& embed, const Tensor& tokens) {
  const Tensor table = embed.contiguous(), ids = tokens.contiguous();
  const int64_t b = ids.size(0), rows = table.size(0), e = table.size(1);
  Tensor x = at::empty({b, e}, table.options());
  const int64_t* id = ids.data_ptr<int64_t>();
  for (int64_t r = 0; r < b; ++r) {
    TORCH_CHECK(0 <= id[r] && id[r] < rows, "token ", id[r], " is outside the embedding's ", rows, " rows");
    std::memcpy(x.data_ptr<float>() + r * e, table.data_ptr<float>() + id[r] * e, e * sizeof(float));
  }
  return x;
}

// scripted.lstm_stack_step. state: h0, c0, h1, c1, ... each (1, B, H); returns (logits (B, 1, V), the new state).
std::tuple<Tensor, std::vector<Tensor>> lstm_step(const Tensor& tokens, const Tensor& embed, at::TensorList state,
                                                  at::TensorList weights, at::TensorList biases,
                                                  const Tensor& out_weight, const Tensor& out_bias) {
  TORCH_CHECK(embed.device().is_cpu() && embed.scalar_type() == at::kFloat, "lstm_step runs float32 on the CPU");
  Tensor x = embed_rows(embed, tokens);  // (B, E)
  const int64_t b = x.size(0);
  std::vector<Tensor> next;
  next.reserve(state.size());
  for (size_t i = 0; i < weights.size(); ++i) {
    const Tensor h = state[2 * i].contiguous(), c = state[2 * i + 1].contiguous();  // (1, B, H)
    const int64_t e = x.size(1), hs = h.size(2);
    Tensor joined = at::empty({b, e + hs}, x.options());  // torch.cat([x, h], 1)
    for (int64_t r = 0; r < b; ++r) {
      std::memcpy(joined.data_ptr<float>() + r * (e + hs), x.data_ptr<float>() + r * e, e * sizeof(float));
      std::memcpy(joined.data_ptr<float>() + r * (e + hs) + e, h.data_ptr<float>() + r * hs, hs * sizeof(float));
    }
    const Tensor gates = linear(joined, weights[i], biases[i]);  // (B, 4H): input, forget, cell, output
    const Tensor act = at::sigmoid(gates);
    const Tensor cell = at::tanh(gates.narrow(1, 2 * hs, hs)).contiguous();
    Tensor c_new = at::empty({1, b, hs}, x.options());
    const float *a = act.data_ptr<float>(), *g = cell.data_ptr<float>(), *cp = c.data_ptr<float>();
    float* cn = c_new.data_ptr<float>();
    for (int64_t r = 0; r < b; ++r)
      for (int64_t j = 0; j < hs; ++j) {  // addcmul(forget * c, input, tanh(cell))
        const float* ar = a + r * 4 * hs;
        const float kept = ar[hs + j] * cp[r * hs + j];
        cn[r * hs + j] = std::fma(ar[j], g[r * hs + j], kept);
      }
    const Tensor tanh_c = at::tanh(c_new);
    Tensor h_new = at::empty({1, b, hs}, x.options());
    const float* tc = tanh_c.data_ptr<float>();
    float* hn = h_new.data_ptr<float>();
    for (int64_t r = 0; r < b; ++r)
      for (int64_t j = 0; j < hs; ++j) hn[r * hs + j] = a[r * 4 * hs + 3 * hs + j] * tc[r * hs + j];
    next.push_back(h_new);
    next.push_back(c_new);
    x = h_new[0];
  }
  return {linear(x, out_weight, out_bias).unsqueeze(1), next};
}

// scripted.gru_stack_step. state: h of (1, B, H) per layer; weights 2 i, 2 i + 1: layer i's W_ih and W_hh.
std::tuple<Tensor, std::vector<Tensor>> gru_step(const Tensor& tokens, const Tensor& embed, at::TensorList state,
                                                 at::TensorList weights, at::TensorList biases,
                                                 const Tensor& out_weight, const Tensor& out_bias) {
  TORCH_CHECK(embed.device().is_cpu() && embed.scalar_type() == at::kFloat, "gru_step runs float32 on the CPU");
  Tensor x = embed_rows(embed, tokens);
  const int64_t b = x.size(0);
  std::vector<Tensor> next;
  next.reserve(state.size());
  for (size_t i = 0; i < state.size(); ++i) {
    const Tensor h = state[i].contiguous();  // (1, B, H)
    const int64_t hs = h.size(2);
    const Tensor from_x = linear(x, weights[2 * i], biases[2 * i]);  // (B, 3H): reset, update, candidate
    const Tensor from_h = linear(h[0], weights[2 * i + 1], biases[2 * i + 1]);
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
    Tensor h_new = at::empty({1, b, hs}, x.options());
    float* hn = h_new.data_ptr<float>();
    for (int64_t r = 0; r < b; ++r)
      for (int64_t j = 0; j < hs; ++j) {  // addcmul(candidate, update, h - candidate)
        const float n = np[r * hs + j];
        hn[r * hs + j] = std::fma(gp[r * 2 * hs + hs + j], hp[r * hs + j] - n, n);
      }
    next.push_back(h_new);
    x = h_new[0];
  }
  return {linear(x, out_weight, out_bias).unsqueeze(1), next};
}

// transformer_step's arithmetic; keep_views false: the keys and values kept are not returned (transformer_run,
// which keeps its buffers and makes the state's views once, in Python, after its last step).
std::tuple<Tensor, std::vector<Tensor>> blocks_step(const Tensor& x_in, int64_t heads, double scale,
                                                    const Tensor& cos, const Tensor& sin, int64_t filled,
                                                    int64_t start, int64_t kept, at::TensorList norms,
                                                    at::ArrayRef<double> eps, at::TensorList weights,
                                                    at::TensorList biases, at::TensorList buffers,
                                                    bool keep_views) {
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
    Tensor normed = layer_norm(x, norms[4 * i], norms[4 * i + 1], eps[2 * i]);
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
    // k_buf.narrow(2, start, n).transpose(-1, -2).reshape({b * heads, dh, n}) and the values' narrow and reshape:
    // the same views (sizes, strides, offset), each made in one call.
    const Tensor keys = k_buf.as_strided({b * heads, dh, n}, {rows * dh, 1, dh}, k_buf.storage_offset() + start * dh);
    const Tensor values =
        v_buf.as_strided({b * heads, n, dh}, {rows * dh, dh, 1}, v_buf.storage_offset() + start * dh);
    Tensor scores = at::bmm(q, keys);  // (B h, 1, T), as matmul runs it
    float* sc = scores.data_ptr<float>();
    for (int64_t j = 0; j < scores.numel(); ++j) sc[j] *= scale_f;
    const Tensor y = at::bmm(at::softmax(scores, -1), values);
    x = linear_add(y.view({b, d}), x, weights[4 * i + 1], biases[4 * i + 1]);
    normed = layer_norm(x, norms[4 * i + 2], norms[4 * i + 3], eps[2 * i + 1]);
    const Tensor hidden = linear(normed, weights[4 * i + 2], biases[4 * i + 2], "gelu");
    x = linear_add(hidden, x, weights[4 * i + 3], biases[4 * i + 3]);
    if (keep_views) {  // the keys and values the next step will see, as the state's views
      kv.push_back(k_buf.narrow(2, kept, filled + 1 - kept));
      kv.push_back(v_buf.narrow(2, kept, filled + 1 - kept));
    }
  }
  const Tensor normed = layer_norm(x, norms[norms.size() - 2], norms.back(), eps.back());
  return {linear(normed, weights.back(), biases.back()), kv};
}

// scripted.transformer_blocks_step; returns (logits (B, V), keys and values kept: k0, v0, k1, v1, ...).
std::tuple<Tensor, std::vector<Tensor>> transformer_step(const Tensor& x, int64_t heads, double scale,
                                                         const Tensor& cos, const Tensor& sin, int64_t filled,
                                                         int64_t start, int64_t kept, at::TensorList norms,
                                                         at::ArrayRef<double> eps, at::TensorList weights,
                                                         at::TensorList biases, at::TensorList buffers) {
  return blocks_step(x, heads, scale, cos, sin, filled, start, kept, norms, eps, weights, biases, buffers, true);
}

// Eight lanes of floats, doubles and comparisons (GCC and Clang vector extensions: one AVX-512 register, or two
// AVX, or four SSE, whatever the CPU has). Each lane's arithmetic is the scalar IEEE operation.
typedef float Floats8 __attribute__((vector_size(32)));
typedef double Doubles8 __attribute__((vector_size(64)));
typedef int32_t Ints8 __attribute__((vector_size(32)));

inline Doubles8 widen(const float* x) {
  Floats8 f;
  std::memcpy(&f, x, sizeof f);
  return __builtin_convertvector(f, Doubles8);
}

// sample.softmax_draw: one index per row of (B, V) logits by inverting the cumulative distribution at a uniform
// draw. The cumulative sum is ATen's (a double accumulator, each partial sum rounded to float). One row is summed
// twice instead of stored: once for the total, once up to the first partial sum above u * total. Several rows are
// summed side by side in lanes of 8, each row's own additions still in order, their partial sums kept and searched
// as searchsorted does (they never decrease).
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
  // Groups of 8 rows on torch's threads, from 4 groups on: for fewer, waking a thread costs more than it saves.
  at::parallel_for(0, (b + kLanes - 1) / kLanes, 4, [&](int64_t first, int64_t last) {
    // The group's rows side by side, column[i * 8 + k] = row k's p[i] (zeros past the last row), so that the 8
    // additions at each position are one vector operation of doubles; each row's own additions stay in order.
    thread_local std::vector<float> column;  // kept between draws: no allocation (nor page faults) per token
    column.resize(static_cast<size_t>(v * kLanes));
    float* col = column.data();
    for (int64_t group = first; group < last; ++group) {
      const int64_t r0 = group * kLanes, lanes = std::min(kLanes, b - r0);
      for (int64_t k = 0; k < kLanes; ++k) {
        const float* row = p + (r0 + k) * v;
        if (k < lanes)
          for (int64_t i = 0; i < v; ++i) col[i * kLanes + k] = row[i];
        else
          for (int64_t i = 0; i < v; ++i) col[i * kLanes + k] = 0.0f;
      }
      Doubles8 acc = {};
      for (int64_t i = 0; i < v; ++i) {  // the cumulative sums, in place: col[i * 8 + k] = row k's cumsum[i]
        acc += widen(col + i * kLanes);
        const Floats8 partial = __builtin_convertvector(acc, Floats8);
        std::memcpy(col + i * kLanes, &partial, sizeof partial);
      }
      for (int64_t k = 0; k < lanes; ++k) {  // searchsorted(cumsum, u * total, right=True): the sums never decrease
        const float total = col[(v - 1) * kLanes + k];
        const float target = std::min(up[r0 + k] * total, std::nextafter(total, 0.0f));
        int64_t low = 0, high = v;  // the first index whose sum is above target lies in [low, high]
        while (low < high) {
          const int64_t mid = low + (high - low) / 2;
          if (col[mid * kLanes + k] > target)
            high = mid;
          else
            low = mid + 1;
        }
        o[r0 + k] = low;
      }
    }
  });
  return out;
}

// One step of sample.sample's loop, the draw: logits[:, -1] (B, V) -> tokens (B,). The operations of its Python
// loop and of pick, in their order: the bias, the blocked ids, the cast to float32, the temperature, softmax_draw.
Tensor draw_next(const Tensor& logits, double temperature, const std::optional<Tensor>& bias,
                 const std::optional<Tensor>& blocked, std::optional<at::Generator> generator) {
  Tensor last = logits.select(1, logits.size(1) - 1);
  if (bias) last = at::add(last, *bias);
  if (blocked) last = at::masked_fill(last, *blocked, -std::numeric_limits<double>::infinity());
  if (last.scalar_type() != at::kFloat) last = last.to(at::kFloat);
  if (temperature != 1.0) last = at::div(last, temperature);
  return softmax_draw(last, generator);
}

// sample.sample's loop for n tokens in one call, for a stack stepped by `step`: draw, pad the finished rows, write
// the tokens into out[:, t0:], mark the rows that drew stop_id (-1: none), then step, but not after the last token
// when step_last is false. Returns early once every row is finished. Returns the logits and state for the next
// draw and how many tokens were written. The same tokens as the Python loop, which runs whatever this does not
// (forms, keepers, top-k and top-p, window models).
template <typename Step>
std::tuple<Tensor, std::vector<Tensor>, int64_t> run_tokens(Step step, Tensor logits, std::vector<Tensor> state,
                                                           int64_t t0, int64_t n, bool step_last, double temperature,
                                                           const std::optional<Tensor>& bias,
                                                           const std::optional<Tensor>& blocked, int64_t stop_id,
                                                           int64_t pad_id, const Tensor& done, const Tensor& out,
                                                           std::optional<at::Generator> generator) {
  TORCH_CHECK(done.scalar_type() == at::kBool && done.is_contiguous() && out.scalar_type() == at::kLong &&
                  out.dim() == 2 && out.is_contiguous() && t0 >= 0 && t0 + n <= out.size(1),
              "run_tokens writes into a contiguous (B,) bool done and a (B, steps) long out");
  const int64_t b = logits.size(0), steps = out.size(1);
  bool* finished = done.data_ptr<bool>();
  int64_t* written = out.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    const Tensor token = draw_next(logits, temperature, bias, blocked, generator);
    int64_t* tp = token.data_ptr<int64_t>();
    bool all = true;
    for (int64_t r = 0; r < b; ++r) {
      if (finished[r]) tp[r] = pad_id;  // finished rows continue with padding
      written[r * steps + t0 + i] = tp[r];
      if (stop_id >= 0 && tp[r] == stop_id) finished[r] = true;
      all = all && finished[r];
    }
    if ((stop_id >= 0 && all) || (i == n - 1 && !step_last)) return {logits, state, i + 1};
    std::tie(logits, state) = step(token.unsqueeze(1), state);
  }
  return {logits, state, n};
}

// lstm_run and gru_run: run_tokens around lstm_step or gru_step.
template <auto stack_step>
std::tuple<Tensor, std::vector<Tensor>, int64_t> stack_run(const Tensor& logits, std::vector<Tensor> state, int64_t t0,
                                                           int64_t n, bool step_last, double temperature,
                                                           const std::optional<Tensor>& bias,
                                                           const std::optional<Tensor>& blocked, int64_t stop_id,
                                                           int64_t pad_id, const Tensor& done, const Tensor& out,
                                                           std::optional<at::Generator> generator, const Tensor& embed,
                                                           at::TensorList weights, at::TensorList biases,
                                                           const Tensor& out_weight, const Tensor& out_bias) {
  auto step = [&](const Tensor& tokens, const std::vector<Tensor>& s) {
    return stack_step(tokens, embed, s, weights, biases, out_weight, out_bias);
  };
  return run_tokens(step, logits, std::move(state), t0, n, step_last, temperature, bias, blocked, stop_id, pad_id,
                    done, out, generator);
}

std::tuple<Tensor, int64_t, int64_t, int64_t> transformer_run(
    const Tensor& logits, std::vector<Tensor> buffers, int64_t filled, int64_t pos, int64_t context,
    const Tensor& cos, const Tensor& sin, int64_t t0, int64_t n, bool step_last, double temperature,
    const std::optional<Tensor>& bias, const std::optional<Tensor>& blocked, int64_t stop_id, int64_t pad_id,
    const Tensor& done, const Tensor& out, std::optional<at::Generator> generator, const Tensor& embed, int64_t heads,
    double scale, at::TensorList norms, at::ArrayRef<double> eps, at::TensorList weights, at::TensorList biases) {
  TORCH_CHECK(pos + n <= cos.size(0) && pos + n <= sin.size(0), "transformer_run needs the angles of every position");
  // CachedStep.__call__: the token's embedding; a full buffer's last context positions moved to its front; the
  // angles of its position; the blocks at the cache's window.
  auto step = [&](const Tensor& tokens, const std::vector<Tensor>& kept_buffers) {
    const Tensor x = embed_rows(embed, tokens);
    if (filled == 2 * context) {
      for (const Tensor& buffer : kept_buffers) {
        TORCH_CHECK(buffer.size(2) == 2 * context, "transformer_run's buffers hold 2 * context positions");
        const int64_t slices = buffer.size(0) * buffer.size(1), dh = buffer.size(3);
        float* base = buffer.data_ptr<float>();
        for (int64_t s = 0; s < slices; ++s)
          std::memcpy(base + s * 2 * context * dh, base + (s * 2 + 1) * context * dh, context * dh * sizeof(float));
      }
      filled = context;
    }
    const int64_t start = std::max<int64_t>(0, filled - context), kept = std::max<int64_t>(0, filled + 1 - context);
    const Tensor next = std::get<0>(blocks_step(x, heads, scale, cos[pos], sin[pos], filled, start, kept, norms, eps,
                                                weights, biases, kept_buffers, false));
    ++filled;
    ++pos;
    return std::make_tuple(next.unsqueeze(1), kept_buffers);
  };
  auto [next, kept_buffers, written] = run_tokens(step, logits, std::move(buffers), t0, n, step_last, temperature,
                                                  bias, blocked, stop_id, pad_id, done, out, generator);
  return {next, written, filled, pos};
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
  m.def(
      "lstm_run(Tensor logits, Tensor[] state, int t0, int n, bool step_last, float temperature, Tensor? bias, "
      "Tensor? blocked, int stop_id, int pad_id, Tensor(a!) done, Tensor(b!) out, Generator? generator, Tensor embed, "
      "Tensor[] weights, Tensor[] biases, Tensor out_weight, Tensor out_bias) -> (Tensor, Tensor[], int)",
      &stack_run<lstm_step>);
  m.def(
      "gru_run(Tensor logits, Tensor[] state, int t0, int n, bool step_last, float temperature, Tensor? bias, "
      "Tensor? blocked, int stop_id, int pad_id, Tensor(a!) done, Tensor(b!) out, Generator? generator, Tensor embed, "
      "Tensor[] weights, Tensor[] biases, Tensor out_weight, Tensor out_bias) -> (Tensor, Tensor[], int)",
      &stack_run<gru_step>);
  m.def(
      "transformer_run(Tensor logits, Tensor[] buffers, int filled, int pos, int context, Tensor cos, Tensor sin, "
      "int t0, int n, bool step_last, float temperature, Tensor? bias, Tensor? blocked, int stop_id, int pad_id, "
      "Tensor(a!) done, Tensor(b!) out, Generator? generator, Tensor embed, int heads, float scale, Tensor[] norms, "
      "float[] eps, Tensor[] weights, Tensor[] biases) -> (Tensor, int, int, int)",
      &transformer_run);
}
