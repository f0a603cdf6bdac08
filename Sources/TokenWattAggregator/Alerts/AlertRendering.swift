import Foundation
import TokenWattAPI
import TokenWattConfiguration
import TokenWattCore
import TokenWattStore

/// An alert event as each kind of receiver takes it.
enum AlertRendering {
    /// How often firing alerts are sent again to Alertmanager, as Prometheus does, so that it
    /// keeps them open.
    static let alertmanagerResendMs: Int64 = Milliseconds.minute
    /// How long Alertmanager keeps a firing alert open without hearing of it again: a few
    /// resend intervals, as Prometheus does.
    static let alertmanagerHoldMs: Int64 = 5 * alertmanagerResendMs

    /// The URL, body and extra headers of one attempt.
    static func request(for event: AlertEvent, message: OutboxMessage, receiver: Receiver, now: Int64) -> (String, [UInt8], [(String, String)]) {
        switch receiver.kind {
        case .webhook(let url, let key):
            let body = Array(event.json.utf8)
            // The event id is the idempotency key; a new timestamp and signature per attempt.
            let headers = key.map { StandardWebhooks.headers(id: event.id, timestamp: now / 1000, body: body, key: $0) } ?? [("webhook-id", event.id)]
            return (url, body, headers)
        case .slack(let url):
            return (url, slack(event), [])
        case .alertmanager(let url):
            return (url.hasSuffix("/") ? url + "api/v2/alerts" : url + "/api/v2/alerts", alertmanager(event, now: now), [])
        }
    }

    /// `{"text": ...}`: the summary, the period and the top contributors, and the link.
    static func slack(_ event: AlertEvent) -> [UInt8] {
        var lines = ["*\(event.summary)*", "Period \(event.periodStart) – \(event.periodEnd)."]
        for key in ["node", "model", "team"] {
            guard let top = event.topContributors[key], !top.isEmpty else { continue }
            lines.append("Top \(key)s: " + top.map { "\($0.name) \(AlertEvent.amount($0.spent))" }.joined(separator: ", "))
        }
        lines.append("<\(event.link)|Budget details> · event \(event.id)")
        return json(SlackMessage(text: lines.joined(separator: "\n")))
    }

    /// `POST /api/v2/alerts`: the alerts this event fires (open for a few resend intervals)
    /// or ends (`endsAt` now).
    static func alertmanager(_ event: AlertEvent, now: Int64) -> [UInt8] {
        let ending = event.resolves ?? []
        let alerts = (event.firing.map { [$0] } ?? ending).map { alert -> AlertmanagerAlert in
            let parts = alert.split(separator: ":")
            var labels = ["alertname": alertName(String(parts[0])), "budget": event.budget, "measure": event.measure,
                          "severity": (parts.count > 1 && (Double(parts[1]) ?? 0) >= 1) || parts[0] == "runaway" ? "critical" : "warning"]
            if parts.count > 1 { labels["threshold"] = String(parts[1]) }
            if parts[0] != "runaway" { labels["period_start"] = event.periodStart }
            let startsAt = event.firing != nil ? event.occurredAt : event.periodStart
            let endsAt = event.firing != nil ? TimeText.exact(max(now, 0) + alertmanagerHoldMs) : event.occurredAt
            return AlertmanagerAlert(labels: labels, annotations: ["summary": event.summary, "spent": "\(event.spent)", "limit": "\(event.limit)",
                                                                   "used_ratio": "\(event.usedRatio)", "projected_crossing_at": event.projectedCrossingAt ?? ""]
                                         .filter { !$0.value.isEmpty },
                                     startsAt: startsAt, endsAt: endsAt, generatorURL: event.link)
        }
        return json(alerts)
    }

    static func alertName(_ alert: String) -> String {
        switch alert {
        case "forecast": "TokenWattBudgetForecast"
        case "runaway": "TokenWattBudgetRunaway"
        default: "TokenWattBudgetThreshold"
        }
    }

    /// Slack's incoming-webhook body.
    struct SlackMessage: Encodable {
        var text: String
    }

    /// One alert of Alertmanager's `POST /api/v2/alerts` body (its `postableAlert`).
    struct AlertmanagerAlert: Encodable {
        var labels: [String: String]
        var annotations: [String: String]
        var startsAt: String
        var endsAt: String
        var generatorURL: String
    }

    private static func json(_ body: some Encodable) -> [UInt8] {
        // Strings and string maps: nothing in these can fail to encode.
        [UInt8]((try? APIJSON.encoder().encode(body)) ?? Data("{}".utf8))
    }
}
