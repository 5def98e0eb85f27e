// Qwen2.5-0.5B's config.json, the shapes that matter for speed and memory (tied head, q/k/v biases,
// 14 query heads over 2 kv heads, a 151936-token vocabulary): realModel.ts builds a model of these
// shapes with random weights for issue #7's memory target, and realModel.bench.ts estimates it.
export const QWEN25_05B = {
  model_type: 'qwen2',
  hidden_size: 896,
  intermediate_size: 4864,
  num_hidden_layers: 24,
  num_attention_heads: 14,
  num_key_value_heads: 2,
  vocab_size: 151936,
  max_position_embeddings: 32768,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000,
  tie_word_embeddings: true,
};
