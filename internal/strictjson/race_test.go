//go:build race

package strictjson

// raceEnabled: under the race detector sync.Pool drops items at random, so
// json.Valid's pooled scanner may be allocated again; allocation counts are not
// checked then.
const raceEnabled = true
