/// The web UI's files (Sources/AuditUIAssets/Assets), embedded in the binary at build time, and
/// the headers every answer that serves them carries. `auditship ui` serves them on 127.0.0.1
/// behind its token; the aggregator on its HTTPS listener to reader certificates.
public enum UIAssets {
    /// Every file, served at `/` (index.html) and `/assets/NAME`.
    public static let names = ["index.html", "app.js", "core.js", "diff.js", "history.js", "alerts.js", "searches.js", "people.js", "suggest.js", "hunt.js", "app.css"]

    public static func file(_ name: String) -> [UInt8]? {
        switch name {
        case "index.html": PackageResources.index_html
        case "app.js": PackageResources.app_js
        case "core.js": PackageResources.core_js
        case "diff.js": PackageResources.diff_js
        case "history.js": PackageResources.history_js
        case "alerts.js": PackageResources.alerts_js
        case "searches.js": PackageResources.searches_js
        case "people.js": PackageResources.people_js
        case "suggest.js": PackageResources.suggest_js
        case "hunt.js": PackageResources.hunt_js
        case "app.css": PackageResources.app_css
        default: nil
        }
    }

    /// The Content-Type of a file by its extension.
    public static func contentType(_ name: String) -> String {
        if name.hasSuffix(".js") { return "text/javascript; charset=utf-8" }
        if name.hasSuffix(".css") { return "text/css; charset=utf-8" }
        return "text/html; charset=utf-8"
    }

    /// Headers of every answer of the UI (page, assets, API): a strict Content-Security-Policy (only
    /// the binary's own script and style, no inline code, no other origin, no framing), no MIME
    /// sniffing, no referrer, and no caching of event content.
    public static let securityHeaders: [(name: String, value: String)] = [
        ("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "DENY"),
        ("Cache-Control", "no-store"),
    ]
}
