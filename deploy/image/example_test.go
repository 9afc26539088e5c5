package image_test

import (
	"fmt"
	"time"

	"github.com/vexen/vexen-auth/deploy/image"
)

// Write the image of the release binaries in ../dist as an OCI layout (what
// `make image` does); deploy/image_test.go runs this on real binaries.
func ExampleWrite() {
	digest, err := image.Write("../dist/image", image.Options{
		Dist:    "../dist", // issuer-linux-amd64, verifier-linux-arm64, … from scripts/release.sh
		Version: "v1.2.3",
		Commit:  "0123abcd",
		Created: time.Unix(1700000000, 0), // or SOURCE_DATE_EPOCH; zero: the epoch
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("image index", digest)
}
