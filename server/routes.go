package server

import "github.com/cohortdb/cohort/server/auth"

// routes is the API. The OpenAPI document (openapi.json) must describe
// exactly these; a test holds the two together.
func (s *Server) routes() []*route {
	return []*route{
		{method: "GET", pattern: "/", handle: s.console},
		{method: "GET", pattern: "/healthz", handle: s.healthz},
		{method: "GET", pattern: "/metrics", scope: auth.Read, global: true, handle: s.serveMetrics},
		{method: "GET", pattern: "/v1/openapi.json", handle: s.openAPI},
		{method: "GET", pattern: "/debug/pprof/*", scope: auth.Admin, global: true, handle: s.pprof},

		{method: "GET", pattern: "/v1/backup", scope: auth.Admin, heavy: true, global: true, handle: s.backup},

		{method: "GET", pattern: "/v1/datasets", scope: auth.Read, handle: s.listDatasets},
		{method: "PUT", pattern: "/v1/datasets/{ds}", scope: auth.Admin, body: bodyJSON, handle: s.createDataset},
		{method: "GET", pattern: "/v1/datasets/{ds}", scope: auth.Read, handle: s.describeDataset},
		{method: "DELETE", pattern: "/v1/datasets/{ds}", scope: auth.Admin, handle: s.dropDataset},
		{method: "POST", pattern: "/v1/datasets/{ds}/fields", scope: auth.Admin, body: bodyJSON, handle: s.addField},
		{method: "POST", pattern: "/v1/datasets/{ds}/ingest", scope: auth.Write, body: bodyNDJSON, heavy: true, handle: s.ingest},

		{method: "POST", pattern: "/v1/datasets/{ds}/count", scope: auth.Read, body: bodyJSON, handle: s.count},
		{method: "POST", pattern: "/v1/datasets/{ds}/query", scope: auth.Read, body: bodyJSON, handle: s.query},
		{method: "POST", pattern: "/v1/datasets/{ds}/explain", scope: auth.Read, body: bodyJSON, handle: s.explain},
		{method: "POST", pattern: "/v1/datasets/{ds}/profile", scope: auth.Read, body: bodyJSON, handle: s.profile},
		{method: "POST", pattern: "/v1/datasets/{ds}/overlap", scope: auth.Read, body: bodyJSON, handle: s.overlap},
		{method: "POST", pattern: "/v1/datasets/{ds}/split", scope: auth.Read, body: bodyJSON, handle: s.split},
		{method: "POST", pattern: "/v1/datasets/{ds}/lookalike", scope: auth.Read, body: bodyJSON, handle: s.lookalike},
		{method: "POST", pattern: "/v1/datasets/{ds}/export", scope: auth.Export, body: bodyJSON, heavy: true, handle: s.export},

		{method: "GET", pattern: "/v1/datasets/{ds}/profiles/{id_type}/{value}", scope: auth.Export, handle: s.profileByID},
		{method: "GET", pattern: "/v1/datasets/{ds}/merges", scope: auth.Export, handle: s.merges},

		{method: "GET", pattern: "/v1/datasets/{ds}/segments", scope: auth.Read, handle: s.listSegments},
		{method: "PUT", pattern: "/v1/datasets/{ds}/segments/{name}", scope: auth.Write, body: bodyJSON, handle: s.putSegment},
		{method: "GET", pattern: "/v1/datasets/{ds}/segments/{name}", scope: auth.Read, handle: s.getSegment},
		{method: "DELETE", pattern: "/v1/datasets/{ds}/segments/{name}", scope: auth.Write, handle: s.deleteSegment},
	}
}
