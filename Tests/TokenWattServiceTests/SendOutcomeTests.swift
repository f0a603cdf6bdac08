import Testing
import TokenWattService

@Suite struct SendOutcomeTests {
    static let context = SendContext(url: "http://aggregator:9470/api/v1/write", purpose: "push", credential: "the token in --token-file",
                                     urlHint: "give the base URL")

    /// Every status a receiver may answer, and what a sender does with its payload: only 400
    /// and 413 (the payload's own fault) let it go; everything else keeps it for a retry.
    static let table: [(status: Int, outcome: String)] = [
        (200, "accepted"), (201, "accepted"), (202, "accepted"), (204, "accepted"), (299, "accepted"),
        (400, "refused"), (413, "refused"),
        (401, "unauthorized"), (403, "unauthorized"), (407, "unauthorized"),
        (404, "wrong_url"), (405, "wrong_url"), (421, "wrong_url"),
        (408, "timeout"), (409, "conflict"), (410, "gone"), (429, "throttled"),
        (500, "server_error"), (502, "server_error"), (503, "server_error"), (504, "server_error"), (599, "server_error"),
        (100, "unexpected"), (301, "unexpected"), (302, "unexpected"), (304, "unexpected"), (402, "unexpected"), (406, "unexpected"),
        (411, "unexpected"), (414, "unexpected"), (415, "unexpected"), (422, "unexpected"), (451, "unexpected"), (600, "unexpected"), (999, "unexpected"),
    ]

    @Test(arguments: table) func classifies(status: Int, outcome: String) {
        let result = SendOutcome.classify(status: status, body: "why", retryAfter: nil, context: SendOutcomeTests.context)
        switch result {
        case .accepted: #expect(outcome == "accepted")
        case .refused(let reason):
            #expect(outcome == "refused")
            #expect(reason == "\(status) from http://aggregator:9470/api/v1/write (\"why\")")
        case .failed(let failure):
            #expect(failure.reason.rawValue == outcome)
            #expect(failure.status == status)
            #expect(failure.message.hasPrefix("\(status) from http://aggregator:9470/api/v1/write (\"why\"): "))
            #expect(failure.message.contains("kept") || failure.reason == .throttled)
        }
    }

    @Test func messagesNameTheFix() {
        func message(_ status: Int) -> String {
            guard case .failed(let failure) = SendOutcome.classify(status: status, body: "", retryAfter: .seconds(3), context: SendOutcomeTests.context) else { return "" }
            #expect(failure.retryAfter == .seconds(3))
            return failure.message
        }
        #expect(message(401) == "401 from http://aggregator:9470/api/v1/write: the receiver refuses the token in --token-file; kept and retried until a credential it accepts is configured")
        #expect(message(404).contains("give the base URL"))
    }
}
