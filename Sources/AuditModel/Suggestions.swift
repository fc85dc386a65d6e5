/// Did-you-mean suggestions for error messages (policy, alert rules, config files).

/// Edit distance between two strings, compared case-insensitively: insertions, deletions,
/// substitutions and transpositions of adjacent characters each cost 1 (optimal string alignment).
public func editDistance(_ a: String, _ b: String) -> Int {
    let x = Array(a.lowercased().unicodeScalars)
    let y = Array(b.lowercased().unicodeScalars)
    if x.isEmpty { return y.count }
    if y.isEmpty { return x.count }
    let width = y.count + 1
    var d = [Int](repeating: 0, count: (x.count + 1) * width)
    for i in 0...x.count { d[i * width] = i }
    for j in 0...y.count { d[j] = j }
    for i in 1...x.count {
        for j in 1...y.count {
            let cost = x[i - 1] == y[j - 1] ? 0 : 1
            var best = min(d[(i - 1) * width + j] + 1, d[i * width + j - 1] + 1, d[(i - 1) * width + j - 1] + cost)
            if i > 1, j > 1, x[i - 1] == y[j - 2], x[i - 2] == y[j - 1] {
                best = min(best, d[(i - 2) * width + j - 2] + 1)
            }
            d[i * width + j] = best
        }
    }
    return d[x.count * width + y.count]
}

/// The candidate nearest to `word` by edit distance, if it is near enough to be a likely typo.
public func nearest(_ word: String, in candidates: [String]) -> String? {
    var best: (String, Int)?
    for candidate in candidates {
        let d = editDistance(word, candidate)
        let limit = candidate.count <= 4 ? 1 : (candidate.count <= 8 ? 2 : 3)
        guard d <= limit else { continue }
        if let current = best, current.1 <= d { continue }
        best = (candidate, d)
    }
    return best?.0
}
