/// The web UI's files (Sources/AuditUI/Assets), embedded in the binary at build time.
public enum UIAssets {
    public static let names = ["index.html", "app.js", "app.css"]

    public static func file(_ name: String) -> [UInt8]? {
        switch name {
        case "index.html": PackageResources.index_html
        case "app.js": PackageResources.app_js
        case "app.css": PackageResources.app_css
        default: nil
        }
    }
}
