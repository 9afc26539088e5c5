package hostlist_test

import (
	"fmt"

	"github.com/vexen/vexen-auth/pkg/hostlist"
)

func Example() {
	hosts, err := hostlist.Parse([]string{"app.example.com", "*.apps.example.com"})
	if err != nil {
		panic(err)
	}
	fmt.Println(hosts.Allows("APP.example.com:8443"), hosts.Allows("grafana.apps.example.com"))
	fmt.Println(hosts.Allows("apps.example.com"), hosts.Allows("app.example.com."), hosts.Allows("app.example.com.evil.net"))

	// A proxy reports the original request; a login page gets it back as rd.
	const login = "https://auth.example.com/login"
	if ret, ok := hosts.ReturnURL("https", "app.example.com", "/reports?q=1"); ok {
		fmt.Println(hostlist.AddReturn(login, "rd", ret))
	}
	_, ok := hosts.ReturnURL("https", "app.example.com", "//evil.net/")
	fmt.Println(ok)

	_, err = hostlist.Parse([]string{"app.example.com:8443"})
	fmt.Println(err)
	// Output:
	// true true
	// false false false
	// https://auth.example.com/login?rd=https%3A%2F%2Fapp.example.com%2Freports%3Fq%3D1
	// false
	// hostlist: bad entry "app.example.com:8443": an entry has no port: every port of an allowed host is allowed
}
