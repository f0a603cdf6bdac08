import Foundation
import TokenWattAPI

/// The events the gateway writes into a stream itself, each a Codable type in the API's own
/// shape: the endings of a stream the caps cut short, and the events that carry what an
/// answer cost.
enum StreamEvents {
    /// One event: its name line where the API names events, and its data.
    static func event(_ name: String?, _ value: some Encodable) -> [UInt8] {
        // These types encode whatever their fields hold: nothing here can fail.
        let data = (try? APIJSON.encoder().encode(value)).map { [UInt8]($0) } ?? Array("{}".utf8)
        return Array(((name.map { "event: \($0)\n" } ?? "") + "data: ").utf8) + data + Array("\n\n".utf8)
    }

    /// OpenAI's last chunk of a chat completion or a completion cut at its output limit.
    struct LengthChunk: Encodable {
        struct Choice: Encodable {
            var index = 0
            var delta: [String: String]?
            var text: String?
            var finishReason = "length"

            private enum CodingKeys: String, CodingKey {
                case index, delta, text
                case finishReason = "finish_reason"
            }
        }

        var id: String
        var object: String
        var created = Int(Date().timeIntervalSince1970)
        var model: String
        var choices: [Choice]

        static func chat(model: String) -> LengthChunk {
            LengthChunk(id: "chatcmpl-tokenwatt", object: "chat.completion.chunk", model: model, choices: [Choice(delta: [:])])
        }

        static func completion(model: String) -> LengthChunk {
            LengthChunk(id: "cmpl-tokenwatt", object: "text_completion", model: model, choices: [Choice(text: "")])
        }
    }

    /// Anthropic's `message_delta` of a message stopped at `max_tokens`, and its `message_stop`.
    struct MessageDelta: Encodable {
        struct Delta: Encodable {
            var stopReason = "max_tokens"

            private enum CodingKeys: String, CodingKey {
                case stopReason = "stop_reason"
            }
        }

        struct Usage: Encodable {
            var outputTokens: Int

            private enum CodingKeys: String, CodingKey {
                case outputTokens = "output_tokens"
            }
        }

        var type = "message_delta"
        var delta = Delta()
        var usage: Usage
    }

    struct MessageStop: Encodable {
        var type = "message_stop"
    }

    /// The Responses API's `response.incomplete`, for the response its stream began with
    /// (`response.created`: its id, model and time), or one of the gateway's own.
    struct ResponseIncomplete: Encodable {
        struct Response: Encodable {
            struct Details: Encodable {
                var reason = "max_output_tokens"
            }

            var id: String
            var object = "response"
            var createdAt: Int
            var model: String
            var status = "incomplete"
            var incompleteDetails = Details()
            var output: [String] = []

            private enum CodingKeys: String, CodingKey {
                case id, object, model, status, output
                case createdAt = "created_at", incompleteDetails = "incomplete_details"
            }
        }

        /// What the created event says of its response.
        private struct Created: Decodable {
            struct Head: Decodable {
                var id: String
                var createdAt: Int?
                var model: String?

                private enum CodingKeys: String, CodingKey {
                    case id, model
                    case createdAt = "created_at"
                }
            }

            var response: Head
        }

        var type = "response.incomplete"
        var response: Response

        static func after(_ created: [UInt8]?, model: String) -> ResponseIncomplete {
            let head = created.flatMap { try? APIJSON.decoder().decode(Created.self, from: Data($0)).response }
            return ResponseIncomplete(response: Response(id: head?.id ?? "resp_tokenwatt", createdAt: head?.createdAt ?? Int(Date().timeIntervalSince1970),
                                                         model: head?.model ?? model))
        }
    }

    /// Anthropic's `ping`, carrying what the answer cost: its clients pass pings over.
    struct CostPing: Encodable {
        var type = "ping"
        var tokenwatt: AnswerCost
    }

    /// OpenAI's usage chunk with what the answer cost as its `tokenwatt` member, put in
    /// first, the chunk's own members as the upstream wrote them.
    static func withCost(_ chunk: [UInt8], _ cost: AnswerCost) -> [UInt8] {
        guard let brace = chunk.firstIndex(of: UInt8(ascii: "{")), let member = try? APIJSON.encoder().encode(cost) else { return chunk }
        return Array(chunk[...brace]) + Array(#""tokenwatt":"#.utf8) + [UInt8](member) + Array(",".utf8) + Array(chunk[chunk.index(after: brace)...])
    }
}
