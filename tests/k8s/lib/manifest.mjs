// k8s/manifests/roomcast.yaml: the chart rendered with k8s/manifests/values.yaml, for
// `kubectl apply -f`. Regenerate with `npm run update-manifest` in tests/k8s.
import { MANIFEST_VALUES, render } from "./chart.mjs";

export const MANIFEST_HEADER = `# Roomcast for \`kubectl apply -f\`: the Helm chart k8s/helm/roomcast rendered with its default
# values and k8s/manifests/values.yaml (release "roomcast", namespace "roomcast").
# Generated; do not edit. Regenerate with \`cd tests/k8s && npm run update-manifest\` (the
# tests fail while it is out of date). Before applying (k8s/README.md):
#
#   kubectl create namespace roomcast
#   kubectl -n roomcast create secret generic roomcast-secrets \\
#     --from-literal=jwt-secret="$(openssl rand -hex 32)" \\
#     --from-literal=admin-token="$(openssl rand -hex 32)"
#   kubectl apply -f k8s/manifests/roomcast.yaml
`;

export function manifestText() {
  return MANIFEST_HEADER + render(["-f", MANIFEST_VALUES]).text;
}
