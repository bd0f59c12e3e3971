// conf/grafana/pgha.json: well-formed, every panel on the dashboard's data source variable, and
// every metric it queries one that pgha writes: Patroni's names as pgha-agent renders them,
// HAProxy's and pgha's as pgha-proxy's metrics page (proxy/metrics_page.cc) names them (the
// integration test test_metrics_compat.py proves that page writes them, as HAProxy does).
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "election/rest_api_replies.h"

namespace pgha {
namespace {

std::string read(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << path;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::set<std::string> names_in(const std::string& text, const std::regex& pattern) {
  std::set<std::string> names;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), pattern); it != std::sregex_iterator(); ++it) {
    names.insert((*it)[1]);
  }
  return names;
}

const std::regex kMetricName(R"(\b((?:haproxy|patroni|pgha)_[a-zA-Z0-9_]+))");

// The queries of every panel (rows' nested panels too) and of the template variables.
void collect_queries(const nlohmann::json& panels, std::vector<std::string>& out, int& count) {
  for (const auto& p : panels) {
    if (p.value("type", "") == "row") {
      collect_queries(p.value("panels", nlohmann::json::array()), out, count);
      continue;
    }
    ++count;
    EXPECT_EQ(p["datasource"]["uid"], "${datasource}") << p["title"];
    ASSERT_TRUE(p.contains("targets") && !p["targets"].empty()) << p["title"];
    for (const auto& t : p["targets"]) out.push_back(t.at("expr").get<std::string>());
  }
}

TEST(GrafanaDashboard, IsWellFormedAndQueriesOnlyMetricsPghaWrites) {
  const nlohmann::json dashboard = nlohmann::json::parse(read(PGHA_SOURCE_DIR "/conf/grafana/pgha.json"));
  bool datasource_variable = false;
  std::vector<std::string> queries;
  for (const auto& v : dashboard.at("templating").at("list")) {
    if (v.at("type") == "datasource" && v.at("name") == "datasource" && v.at("query") == "prometheus") {
      datasource_variable = true;
    }
    if (v.at("type") == "query") queries.push_back(v.at("definition").get<std::string>());
  }
  EXPECT_TRUE(datasource_variable);
  int panel_count = 0;
  collect_queries(dashboard.at("panels"), queries, panel_count);
  EXPECT_GE(panel_count, 15);

  // What the agent writes, PostgreSQL running (so that every conditional family is there).
  election::NodeStatus node;
  node.scope = "demo";
  node.name = "node1";
  node.postgres_running = true;
  node.server_version = 150000;
  const std::set<std::string> agent = names_in(election::render_patroni_metrics(node), kMetricName);
  const std::set<std::string> proxy =
      names_in(read(PGHA_SOURCE_DIR "/proxy/metrics_page.cc"), std::regex(R"re("((?:haproxy|pgha)_[a-z0-9_]+)")re"));
  ASSERT_GT(agent.size(), 20u);
  ASSERT_GT(proxy.size(), 40u);

  std::set<std::string> used;
  for (const std::string& q : queries) {
    const std::set<std::string> names = names_in(q, kMetricName);
    EXPECT_FALSE(names.empty()) << q;
    for (const std::string& n : names) {
      used.insert(n);
      const bool written = n.rfind("patroni_", 0) == 0 ? agent.count(n) > 0 : proxy.count(n) > 0;
      EXPECT_TRUE(written) << n << " in: " << q;
    }
  }
  for (const char* needed : {"haproxy_server_status", "haproxy_backend_active_servers", "patroni_primary",
                             "patroni_xlog_replayed_location", "patroni_postgres_timeline", "patroni_pending_restart"}) {
    EXPECT_TRUE(used.count(needed)) << needed;
  }
}

}  // namespace
}  // namespace pgha
