"""The registry transport: an OCI distribution-spec client (`docker://` references).

names       Docker Hub's names, loopback hosts, short names
paths       where registries.conf, certs.d and credential files are
regconf     registries.conf: rewrites, mirrors, insecure and blocked registries
authfile    credentials in Docker's config.json and Podman's auth.json
headers     WWW-Authenticate, Link, Range parsing
auth        basic auth and the bearer-token dance
tls         CAs and client certificates per registry
session     HTTP to one registry (urllib3), errors made clear
blobs       resumable blob downloads
client      the API of a repository and of a registry (catalog, search)
connect     RegistryOptions, and from an image name to a client
source      RegistrySource (an ImageSource)
dest        RegistryDestination (an ImageDestination)
"""
