package load

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors.
var (
	// ErrMalformed: the server's answer is not HTTP/1.x as this client reads it.
	ErrMalformed = errors.New("load: malformed HTTP response")
	// ErrClosed: the server closed the connection (or asked to) after its answer.
	ErrClosed = errors.New("load: connection closed by server")
)

// Request renders an HTTP/1.1 request with no body. headers alternate name and
// value. The result can be written to a Conn any number of times.
func Request(method, host, path string, headers ...string) []byte {
	if len(headers)%2 != 0 {
		panic("load: Request headers must be name, value pairs")
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, path, host)
	for i := 0; i < len(headers); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", headers[i], headers[i+1])
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// BearerRequests renders one GET request per token, each carrying
// "Authorization: Bearer TOKEN".
func BearerRequests(host, path string, tokens []string) [][]byte {
	out := make([][]byte, len(tokens))
	for i, t := range tokens {
		out[i] = Request("GET", host, path, "Authorization", "Bearer "+t)
	}
	return out
}

// Conn is one kept-alive HTTP/1.1 client connection. It is not safe for concurrent
// use: one request is in flight at a time.
type Conn struct {
	nc      net.Conn
	br      *bufio.Reader
	timeout time.Duration
}

// Dial connects to addr (host:port). timeout bounds the connect and, later, each
// request's round trip; zero means 10s.
func Dial(addr string, timeout time.Duration) (*Conn, error) {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	return &Conn{nc: nc, br: bufio.NewReaderSize(nc, 16<<10), timeout: timeout}, nil
}

// Close closes the connection.
func (c *Conn) Close() error { return c.nc.Close() }

// Do writes req and reads the answer, discarding its body, and returns the status.
// ErrClosed (with the status) means the answer was read but the server closed the
// connection: dial a new one. Any other error leaves the connection unusable.
func (c *Conn) Do(req []byte) (int, error) {
	if err := c.nc.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	if _, err := c.nc.Write(req); err != nil {
		return 0, err
	}
	return ReadResponse(c.br)
}

// PollStatus sends req again and again until the answer's status is want, and
// returns the time that answer was received. It gives up when deadline passes.
func (c *Conn) PollStatus(req []byte, want int, deadline time.Time) (time.Time, error) {
	for {
		st, err := c.Do(req)
		now := time.Now()
		if err != nil {
			return now, err
		}
		if st == want {
			return now, nil
		}
		if now.After(deadline) {
			return now, fmt.Errorf("load: still %d, not %d, at the deadline", st, want)
		}
	}
}

// ReadResponse reads one HTTP/1.x response from br, discards its body (sized by
// Content-Length or chunked), and returns its status code. It returns ErrClosed,
// with the status, when the server announced "Connection: close" or the body runs
// to the end of the stream.
func ReadResponse(br *bufio.Reader) (int, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, fmt.Errorf("%w: status line %q", ErrMalformed, line)
	}
	status := 0
	for _, ch := range line[9:12] {
		if ch < '0' || ch > '9' {
			return 0, fmt.Errorf("%w: status line %q", ErrMalformed, line)
		}
		status = status*10 + int(ch-'0')
	}
	contentLength, chunked, closing := int64(-1), false, false
	for {
		h, err := br.ReadSlice('\n')
		if err != nil {
			return status, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return status, fmt.Errorf("%w: header line %q", ErrMalformed, h)
		}
		value = bytes.TrimSpace(value)
		switch {
		case asciiEqualFold(name, "Content-Length"):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 {
				return status, fmt.Errorf("%w: Content-Length %q", ErrMalformed, value)
			}
			contentLength = n
		case asciiEqualFold(name, "Transfer-Encoding"):
			chunked = asciiEqualFold(value, "chunked")
		case asciiEqualFold(name, "Connection"):
			closing = asciiEqualFold(value, "close")
		}
	}
	switch {
	case status == 204 || status == 304 || (status >= 100 && status < 200):
		// no body
	case chunked:
		if err := discardChunked(br); err != nil {
			return status, err
		}
	case contentLength >= 0:
		if _, err := br.Discard(int(contentLength)); err != nil {
			return status, err
		}
	default:
		// A body delimited by the end of the connection.
		if _, err := io.Copy(io.Discard, br); err != nil {
			return status, err
		}
		return status, ErrClosed
	}
	if closing {
		return status, ErrClosed
	}
	return status, nil
}

func discardChunked(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		sz := strings.TrimSpace(string(line))
		if i := strings.IndexByte(sz, ';'); i >= 0 {
			sz = sz[:i]
		}
		n, err := strconv.ParseInt(sz, 16, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("%w: chunk size %q", ErrMalformed, line)
		}
		if n == 0 {
			// Trailers, then the blank line.
			for {
				t, err := br.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(bytes.TrimRight(t, "\r\n")) == 0 {
					return nil
				}
			}
		}
		if _, err := br.Discard(int(n)); err != nil {
			return err
		}
		if crlf, err := br.ReadSlice('\n'); err != nil {
			return err
		} else if len(bytes.TrimRight(crlf, "\r\n")) != 0 {
			return fmt.Errorf("%w: chunk not followed by CRLF", ErrMalformed)
		}
	}
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
