import Foundation

/// An inference server as configured: where it is, what it is, and what it serves.
public struct InferenceServer: Sendable, Equatable {
    /// The server's base URL (`http://127.0.0.1:8000`), or the full URL of its metrics.
    public var url: String
    /// nil: recognised from its metric names.
    public var kind: InferenceServerKind?
    /// The model for servers whose metrics name none; else asked from `/v1/models`.
    public var model: String?
    /// How often it is read; nil means the agent's interval.
    public var intervalMs: Int64?
    /// Who its tokens belong to (`attribution` and `models` in the config).
    public var attribution = Attribution()
    /// Its part in prefill/decode disaggregated serving (`role`); nil: read from the server's
    /// own flags where they say it (`InferenceRole.init(commandLine:)`), else `both`.
    public var role: InferenceRole?

    public init(url: String, kind: InferenceServerKind? = nil, model: String? = nil, intervalMs: Int64? = nil) {
        self.url = url
        self.kind = kind
        self.model = model
        self.intervalMs = intervalMs
    }

    /// Whether the URL is an http or https URL with a host.
    public var hasValidURL: Bool { parts != nil }

    /// `scheme://host:port` and the path given after it (nil when only the base was given).
    public var parts: (base: String, path: String?, address: String)? {
        guard let components = URLComponents(string: url), let scheme = components.scheme, scheme == "http" || scheme == "https",
              let host = components.host, !host.isEmpty else { return nil }
        let port = components.port ?? (scheme == "https" ? 443 : 80)
        let path = components.path.isEmpty || components.path == "/" ? nil : components.path + (components.query.map { "?\($0)" } ?? "")
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return ("\(scheme)://\(shownHost):\(port)", path, "\(shownHost):\(port)")
    }
}

/// The inference servers the agent reads, by the name used in config and in `source` labels.
public enum InferenceServerKind: String, CaseIterable, Sendable {
    case vllm, sglang, tgi, llamacpp, lmdeploy, trtllm, triton, dynamo
}

/// What an inference server does for the requests it sees. In prefill/decode disaggregated
/// serving (vLLM's P/D connectors, llm-d, Dynamo, SGLang's PD mode) every request runs its
/// prefill on a server of one pool and its decode on one of the other, and both count it: a
/// prefill server's input tokens are the request's, its one token of output is thrown away; a
/// decode server receives the prompt's KV and counts the prompt again. So input is taken from
/// prefill (and `both`) servers only, output and requests from decode (and `both`) servers only,
/// and each request is counted once across the pools.
public enum InferenceRole: String, CaseIterable, Sendable {
    case both, prefill, decode

    /// Whether this server's prompt tokens are input of its own.
    public var countsInput: Bool { self != .decode }
    /// Whether this server's generated tokens and finished requests are the requests' own.
    public var countsOutput: Bool { self != .prefill }

    /// The role a server's command line gives it: vLLM's `--kv-transfer-config` `kv_role`
    /// (`kv_producer` prefill, `kv_consumer` decode, `kv_both` both), SGLang's
    /// `--disaggregation-mode prefill|decode`; nil where it says none.
    public init?(commandLine arguments: [String]) {
        func value(of flag: String) -> String? {
            for (index, argument) in arguments.enumerated() {
                if argument == flag, index + 1 < arguments.count { return arguments[index + 1] }
                if argument.hasPrefix(flag + "=") { return String(argument.dropFirst(flag.count + 1)) }
            }
            return nil
        }
        struct KVTransfer: Decodable {
            var role: String?
            enum CodingKeys: String, CodingKey { case role = "kv_role" }
        }
        if let json = value(of: "--kv-transfer-config") {
            let transfer: KVTransfer
            do {
                transfer = try JSONDecoder().decode(KVTransfer.self, from: Data(json.utf8))
            } catch {
                return nil  // a value vLLM itself would refuse says nothing
            }
            switch transfer.role {
            case "kv_producer": self = .prefill
            case "kv_consumer": self = .decode
            case "kv_both": self = .both
            default: return nil
            }
        } else if let mode = value(of: "--disaggregation-mode"), let role = InferenceRole(rawValue: mode), role != .both {
            self = role
        } else {
            return nil
        }
    }
}
