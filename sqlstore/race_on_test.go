//go:build race

package sqlstore_test

// raceEnabled: the race detector slows the pure-Go SQLite tenfold, so the
// differential test runs fewer filters under it (.ci/run also runs it in
// full without the detector).
const raceEnabled = true
