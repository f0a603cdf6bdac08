/// The `type` label of `tokenwatt_tokens_total`. `input` counts every prompt token, cached ones
/// included, and `cached_input` the part of them served from a cache; `output` counts every
/// generated token and `reasoning` the part of them spent on reasoning. All tokens are
/// `input` + `output`; each part is priced once (uncached input, cached input, output).
public enum TokenType: String, CaseIterable, Sendable {
    case input, output
    case cachedInput = "cached_input"
    case reasoning
}
