/// The web UI's files (Sources/AuditUI/Assets), embedded in the binary at build time.
public enum UIAssets {
    /// Every file, served at `/` (index.html) and `/assets/NAME`.
    public static let names = ["index.html", "app.js", "core.js", "diff.js", "history.js", "alerts.js", "app.css"]

    public static func file(_ name: String) -> [UInt8]? {
        switch name {
        case "index.html": PackageResources.index_html
        case "app.js": PackageResources.app_js
        case "core.js": PackageResources.core_js
        case "diff.js": PackageResources.diff_js
        case "history.js": PackageResources.history_js
        case "alerts.js": PackageResources.alerts_js
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
}
