import Foundation
import HTTPTypes
import Testing
import TokenWattAPI
@testable import TokenWattConfiguration
@testable import TokenWattGateway

/// A `typical` route's reservation and a stream's allowance beyond it.
@Suite struct TypicalOutputTests {
    @Test func theReservationIsAPercentileOfTheCallersRecentOutputWithinFloorAndCeiling() {
        let history = OutputHistory(settings: .init(percentile: 0.95, floor: 64, ceiling: 4_096, samples: 20))
        // No history: the ceiling.
        #expect(history.reservation(caller: "k", model: "m") == 4_096)
        for output in 1...20 { history.record(caller: "k", model: "m", output: output * 10) }
        // The 19th of 20 sorted: 190.
        #expect(history.reservation(caller: "k", model: "m") == 190)
        #expect(history.reservation(caller: "k", model: "other") == 4_096)
        #expect(history.reservation(caller: "other", model: "m") == 4_096)
        // The oldest go first: twenty more of 5 each, and the floor holds.
        for _ in 0..<20 { history.record(caller: "k", model: "m", output: 5) }
        #expect(history.reservation(caller: "k", model: "m") == 64)
        // And the ceiling.
        for _ in 0..<20 { history.record(caller: "k", model: "m", output: 100_000) }
        #expect(history.reservation(caller: "k", model: "m") == 4_096)
    }

    @Test func aStreamDrawsPastItsReservationFromItsSlicesUntilTheyRunOut() throws {
        let book = LeaseBookTests.bookWithSlice(1_000, worst: 231)
        var ticket = try book.admit(labels: LeaseBookTests.labels, model: "m", local: false, input: 31, maxOutput: 200, nowMs: 0).get()
        // 231 held; three draws of 256 fit in 1,000, a fourth does not, and takes nothing.
        for _ in 0..<3 { #expect(book.draw(&ticket, output: 256, nowMs: 10)) }
        #expect(!book.draw(&ticket, output: 256, nowMs: 10))
        #expect(ticket.holds[0].amount == 231 + 3 * 256)
        // Asked for, it is in the next report's need until the stream stops waiting.
        let waiting = book.ask(for: ticket, output: 256)
        #expect(waiting == ["team": 256] && book.report(nowMs: 20).slices[0].need == 256)
        book.doneWaiting(waiting)
        // Settled at what it used: the rest of what it drew is free again.
        book.settle(ticket, input: 20, cachedInput: 0, output: 700)
        let settled = book.report(nowMs: 30).slices[0]
        #expect(settled.held == 0 && settled.settled == 720 && settled.need == 0)
    }

    @Test(arguments: ["/v1/chat/completions", "/v1/completions", "/v1/messages", "/v1/responses"])
    func aStreamCutShortEndsAsTheAPIEndsOneAtItsLimit(path: String) throws {
        let created = Array(#"{"type":"response.created","response":{"id":"resp_1","object":"response","status":"in_progress","model":"m","output":[]}}"#.utf8)
        let text = String(decoding: StreamAllowance.ending(path: path, model: "m", outputTokens: 300, responseCreated: created), as: UTF8.self)
        let events = text.components(separatedBy: "\n\n").filter { !$0.isEmpty }
        let data = events.compactMap { event in event.split(separator: "\n").first { $0.hasPrefix("data: ") }.map { String($0.dropFirst(6)) } }
        let objects = data.filter { $0 != "[DONE]" }.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(objects.count == data.filter { $0 != "[DONE]" }.count, "every event's data is JSON: \(text)")
        switch path {
        case "/v1/messages":
            #expect(((objects.first?["delta"] as? [String: Any])?["stop_reason"] as? String) == "max_tokens")
            #expect(objects.last?["type"] as? String == "message_stop")
        case "/v1/responses":
            let response = objects.first?["response"] as? [String: Any]
            #expect(objects.first?["type"] as? String == "response.incomplete" && response?["id"] as? String == "resp_1")
            #expect(response?["status"] as? String == "incomplete" && (response?["incomplete_details"] as? [String: Any])?["reason"] as? String == "max_output_tokens")
        default:
            #expect(((objects.first?["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String) == "length" && objects.count == 1)
        }
    }
}

/// What an answer cost, on the answer: its headers, and a stream's last events.
@Suite struct AnswerCostTests {
    static let cost = AnswerCost(tokens: .init(input: 20, cachedInput: 15, output: 50), cost: 0.0005065, currency: "USD", energyJoules: 12.5, gco2e: nil,
                                 estimated: true)

    @Test func theHeadersSayTokensCostAndEnergyInPlainDecimals() {
        #expect(AnswerCostTests.cost.headers.map { "\($0.name): \($0.value)" } == [
            "x-tokenwatt-tokens: input=20, cached=15, output=50; estimated", "x-tokenwatt-cost: 0.0005065 USD; estimated",
            "x-tokenwatt-energy-joules: 12.5; estimated",
        ])
        let unpriced = AnswerCost(tokens: .init(input: 1, cachedInput: 0, output: 2), cost: nil, currency: nil, energyJoules: nil, gco2e: nil, estimated: false)
        #expect(unpriced.headers.map(\.value) == ["input=1, cached=0, output=2"])
        #expect(AnswerCost.decimal(1e-9) == "0.000000001" && AnswerCost.decimal(3) == "3" && AnswerCost.decimal(0) == "0")
    }

    @Test func aStreamsLastEventsCarryTheCostWhereTheAPIHasRoomForIt() throws {
        let usage = Array(#"{"choices":[],"id":"c","usage":{"completion_tokens":50,"prompt_tokens":20}}"#.utf8)
        // The usage chunk an OpenAI client asked for, with the figures, then [DONE].
        let chat = GatewayHandler.closing(path: "/v1/chat/completions", cost: AnswerCostTests.cost, usageChunk: usage, done: true, trailers: false)
        let events = String(decoding: chat.bytes, as: UTF8.self).components(separatedBy: "\n\n").filter { !$0.isEmpty }
        #expect(events.count == 2 && events[1] == "data: [DONE]" && chat.trailers == nil)
        let chunk = try #require(try JSONSerialization.jsonObject(with: Data(events[0].dropFirst(6).utf8)) as? [String: Any])
        #expect((chunk["usage"] as? [String: Any])?["completion_tokens"] as? Int == 50)
        #expect((chunk["tokenwatt"] as? [String: Any])?["currency"] as? String == "USD")
        // No usage chunk asked for: nothing the client does not expect, but trailers when it asked for them.
        let bare = GatewayHandler.closing(path: "/v1/chat/completions", cost: AnswerCostTests.cost, usageChunk: nil, done: true, trailers: true)
        #expect(String(decoding: bare.bytes, as: UTF8.self) == "data: [DONE]\n\n")
        #expect(bare.trailers?[HTTPField.Name("x-tokenwatt-cost")!] == "0.0005065 USD; estimated")
        // Anthropic's ping; the Responses API's nothing.
        let messages = String(decoding: GatewayHandler.closing(path: "/v1/messages", cost: AnswerCostTests.cost, usageChunk: nil, done: false, trailers: false).bytes,
                              as: UTF8.self)
        #expect(messages.hasPrefix("event: ping\ndata: {") && messages.contains(#""type":"ping""#) && messages.contains(#""tokenwatt":{"#))
        #expect(GatewayHandler.closing(path: "/v1/responses", cost: AnswerCostTests.cost, usageChunk: nil, done: false, trailers: false).bytes.isEmpty)
    }
}
