package verifytest

// Policy is the access policy of the decision tables run through both adapters
// (pkg/verify's HTTP handler and pkg/extauthz's gRPC server): one of each action,
// networks, roles, a second factor and a wildcard host.
const Policy = `default: authenticated
rules:
  - name: health
    paths: [/healthz]
    methods: [GET, HEAD]
    action: public
  - name: internal
    paths: ["/internal/**"]
    networks: [10.0.0.0/8]
    action: authenticated
  - name: internal-deny
    paths: ["/internal/**"]
    action: deny
  - name: admin
    hosts: [admin.example.com]
    action: authenticated
    roles: [admin]
  - name: money
    paths: ["/billing/**"]
    action: authenticated
    mfa: true
  - name: blocked
    hosts: ["*.blocked.example.com"]
    action: deny
`
