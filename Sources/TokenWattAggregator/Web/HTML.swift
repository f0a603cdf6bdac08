import Foundation

/// The web overview's pages as text, drawn on the server: no script, no file from elsewhere,
/// so they work offline and without JavaScript. Every value that comes from data is escaped.
/// A figure carries its full value in `data-value` and its name in `data-key`, so a test (or a
/// scraper) reads the same number the JSON API answers.
enum HTML {
    /// The pages, in the navigation's order.
    enum Section: String, CaseIterable, Sendable {
        case fleet, costs, budgets, advice, gateway

        var path: String { self == .fleet ? "/" : "/\(rawValue)" }
        var title: String { rawValue.prefix(1).uppercased() + rawValue.dropFirst() }
    }

    static func escape(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 == UInt8(ascii: "&") || $0 == UInt8(ascii: "<") || $0 == UInt8(ascii: ">")
                                            || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "'") }) else { return text }
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    /// How a figure reads.
    enum Format {
        case money(String)
        case number(decimals: Int)
        case percent
        case watts
        case grams

        func text(_ value: Double) -> String {
            switch self {
            case .money(let currency): "\(NumberText.grouped(value, decimals: 2)) \(currency)"
            case .number(let decimals): NumberText.grouped(value, decimals: decimals)
            case .percent: NumberText.grouped(value * 100, decimals: 1) + " %"
            case .watts: NumberText.grouped(value, decimals: 0) + " W"
            case .grams: value >= 10_000 ? NumberText.grouped(value / 1000, decimals: 1) + " kg" : NumberText.grouped(value, decimals: 0) + " g"
            }
        }
    }

    /// A figure: its text, with its key and full value for machines; a dash where unknown.
    static func figure(_ key: String, _ value: Double?, _ format: Format) -> String {
        guard let value else { return "<span class=\"figure unknown\" data-key=\"\(escape(key))\" data-value=\"\">—</span>" }
        return "<span class=\"figure\" data-key=\"\(escape(key))\" data-value=\"\(value)\">\(escape(format.text(value)))</span>"
    }

    static func card(_ label: String, _ figure: String, note: String = "") -> String {
        "<div class=\"card\"><div class=\"label\">\(escape(label))</div><div class=\"value\">\(figure)</div>"
            + (note.isEmpty ? "" : "<div class=\"note\">\(escape(note))</div>") + "</div>"
    }

    /// A table; cells are HTML already (escape text, or use `figure`). Numeric columns align right.
    static func table(_ columns: [String], _ rows: [[String]], numeric: Set<Int> = [], id: String? = nil, empty: String = "Nothing yet.") -> String {
        guard !rows.isEmpty else { return "<p class=\"empty\">\(escape(empty))</p>" }
        var html = "<table\(id.map { " id=\"\(escape($0))\"" } ?? "")><thead><tr>"
        for (index, column) in columns.enumerated() { html += "<th\(numeric.contains(index) ? " class=\"num\"" : "")>\(escape(column))</th>" }
        html += "</tr></thead><tbody>"
        for row in rows {
            html += "<tr>"
            for (index, cell) in row.enumerated() { html += "<td\(numeric.contains(index) ? " class=\"num\"" : "")>\(cell)</td>" }
            html += "</tr>"
        }
        return html + "</tbody></table>"
    }

    /// A `<time>` reading `7 Dec 2026, 14:55 UTC` in `zone`'s time, the exact instant in its title.
    static func time(_ milliseconds: Int64, _ zone: TimeText = .utc) -> String {
        let exact = TimeText.exact(milliseconds)
        return "<time datetime=\"\(exact)\" title=\"\(exact)\">\(escape(zone.text(milliseconds)))</time>"
    }

    static func badge(_ text: String, _ kind: String) -> String {
        "<span class=\"badge \(escape(kind))\">\(escape(text))</span>"
    }

    /// A whole document: the navigation, the section's heading, its subtitle (and the moment
    /// its figures hold for, `at`) and `body`.
    static func page(_ section: Section, subtitle: String, at moment: Int64? = nil, body: String, attributes: [String: String] = [:]) -> String {
        let navigation = Section.allCases.map { item in
            "<a href=\"\(item.path)\"\(item == section ? " class=\"current\" aria-current=\"page\"" : "")>\(item.title)</a>"
        }.joined()
        let data = attributes.sorted { $0.key < $1.key }.map { " data-\($0.key)=\"\(escape($0.value))\"" }.joined()
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>TokenWatt · \(section.title)</title><link rel="icon" href="data:,"><style>\(style)</style></head>
            <body><header><span class="brand">TokenWatt</span><nav>\(navigation)</nav></header>
            <main id="\(section.rawValue)"\(data)><h1>\(section.title)</h1><p class="subtitle">\(escape(subtitle))\(moment.map { " · as of " + time($0) } ?? "")</p>
            \(body)</main></body></html>
            """
    }

    static let style = """
        :root{--ink:#1d2430;--muted:#5d6778;--line:#dde2ea;--bg:#f6f7f9;--local:#2f7d5b;--cloud:#3d6fb6;--warn:#c77d12;--bad:#b83a3a}
        *{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:var(--bg)}
        header{display:flex;align-items:center;gap:24px;padding:10px 24px;background:#16202e;color:#fff}
        .brand{font-weight:700;letter-spacing:.02em}nav a{color:#c9d3e1;text-decoration:none;margin-right:16px;padding:4px 0}
        nav a.current{color:#fff;border-bottom:2px solid #7fc8a9}main{padding:16px 24px 40px;max-width:1400px}
        h1{margin:8px 0 0;font-size:22px}h2{font-size:16px;margin:28px 0 8px}.subtitle{color:var(--muted);margin:2px 0 16px}
        .cards{display:flex;flex-wrap:wrap;gap:12px}.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:10px 14px;min-width:170px}
        .card .label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}.card .value{font-size:20px;font-weight:600}
        .card .note{color:var(--muted);font-size:12px}p.note{color:var(--muted);font-size:13px;max-width:90ch}table{border-collapse:collapse;background:#fff;border:1px solid var(--line);width:100%}
        th,td{padding:5px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}th{background:#eef1f5;font-weight:600;font-size:12px;vertical-align:bottom}
        td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}td.num{white-space:nowrap}td:first-child{white-space:nowrap}.unknown{color:var(--muted)}.empty{color:var(--muted)}
        .badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff;background:var(--muted)}
        .badge.up,.badge.ok,.badge.keep_local,.badge.delivered{background:var(--local)}.badge.down,.badge.exceeded,.badge.use_cloud,.badge.failed{background:var(--bad)}
        .badge.alerting,.badge.overflow,.badge.pending{background:var(--warn)}.badge.consolidate{background:var(--cloud)}
        .chart{background:#fff;border:1px solid var(--line);border-radius:8px;padding:8px;margin:8px 0}.chart svg{display:block;width:100%;height:auto}
        .legend span{margin-right:14px}.swatch{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}
        .recommendation{background:#fff;border:1px solid var(--line);border-radius:8px;padding:10px 14px;margin:10px 0}
        .recommendation h3{margin:0 0 6px;font-size:15px}.recommendation ul{margin:4px 0 8px 18px;padding:0}
        .grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:12px}
        """
}
