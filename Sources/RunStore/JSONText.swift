/// Small, deterministic JSON helpers for the text columns of the store: metric dictionaries
/// (non-finite values are kept as the strings "NaN", "Infinity", "-Infinity", which plain JSON
/// cannot express), string dictionaries, and string escaping shared with the CLI's JSON output.
import Foundation

public enum JSONText {
    /// `"…"` with JSON escapes.
    public static func quote(_ s: String) -> String {
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
        return out
    }

    /// A JSON number (shortest round-trip spelling) or a string for non-finite values.
    public static func number(_ v: Double) -> String {
        if v.isNaN { return "\"NaN\"" }
        if v.isInfinite { return v > 0 ? "\"Infinity\"" : "\"-Infinity\"" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }

    public static func encodeMetrics(_ metrics: [String: Double]) -> String {
        "{" + metrics.keys.sorted().map { quote($0) + ":" + number(metrics[$0]!) }.joined(separator: ",") + "}"
    }

    public static func encodeStrings(_ dict: [String: String]) -> String {
        "{" + dict.keys.sorted().map { quote($0) + ":" + quote(dict[$0]!) }.joined(separator: ",") + "}"
    }

    public static func decodeMetrics(_ text: String) -> [String: Double] {
        guard let data = text.data(using: .utf8),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
        var out: [String: Double] = [:]
        out.reserveCapacity(object.count)
        for (key, value) in object {
            if let n = value as? NSNumber { out[key] = n.doubleValue }
            else if let s = value as? String {
                switch s {
                case "NaN": out[key] = .nan
                case "Infinity": out[key] = .infinity
                case "-Infinity": out[key] = -.infinity
                default: if let d = Double(s) { out[key] = d }
                }
            }
        }
        return out
    }

    public static func decodeStrings(_ text: String) -> [String: String] {
        guard let data = text.data(using: .utf8),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
        var out: [String: String] = [:]
        for (key, value) in object {
            if let s = value as? String { out[key] = s } else { out[key] = "\(value)" }
        }
        return out
    }
}
