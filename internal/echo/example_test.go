package echo_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/vexen/vexen-auth/internal/echo"
)

func Example() {
	h := &echo.Handler{}
	srv := httptest.NewServer(h)
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/dashboard?tab=2", nil)
	req.Header.Set("X-Auth-User", "4f1c2a")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	seen, err := echo.Decode(resp.Body)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(seen.Method, seen.URI, seen.Header.Get("X-Auth-User"), h.Hits())
	// Output: GET /dashboard?tab=2 4f1c2a 1
}
