#include "labrun/render.hpp"

#include "labrun/output_file.hpp"

#include <fmt/format.h>

#include <string>
#include <vector>

namespace labrun {
namespace {

// A number, or "n/a" for null (a non-finite value).
std::string num(const json& value, const char* spec = "{:.6g}") {
  return value.is_number() ? fmt::format(fmt::runtime(spec), value.get<double>()) : "n/a";
}

std::string list(const json& values, const char* spec = "{:.4g}") {
  std::string out;
  for (const auto& v : values) out += (out.empty() ? "" : ", ") + num(v, spec);
  return out;
}

std::string factorise_text(const json& r) {
  const json& gd = r.at("gd");
  std::string out = fmt::format("{:<18} {:>14} {:>10} {:>8}\n", "factorisation", "loss", "seconds", "epochs");
  out += fmt::format("{:<18} {:>14} {:>10} {:>8}{}\n", "gradient descent", num(gd.at("loss"), "{:.6f}"),
                     num(gd.at("seconds"), "{:.4f}"), gd.at("epochs_run").get<int64_t>(),
                     gd.at("diverged").get<bool>() ? "  DIVERGED" : "");
  out += fmt::format("{:<18} {:>14}\n", "truncated SVD", num(r.at("svd").at("loss"), "{:.6f}"));
  const json& relative = r.at("gap").at("relative");
  out += fmt::format("{:<18} {:>14} ({} relative)\n", "gap", num(r.at("gap").at("absolute"), "{:.6f}"),
                     relative.is_number() ? fmt::format("{:.3g}%", 100.0 * relative.get<double>()) : "n/a");
  out += "singular values: " + list(r.at("svd").at("singular_values")) + "\n";
  return out;
}

std::string pca_text(const json& r) {
  std::string out = "explained variance ratio: " + list(r.at("pca").at("explained_variance_ratio"), "{:.4f}") + "\n";
  out += fmt::format("learned factor U: loss {}\n", num(r.at("gd").at("loss"), "{:.6f}"));
  const json& c = r.at("comparison");
  if (c.is_null()) return out + "no comparison: training diverged\n";
  out += "principal angles (rad): " + list(c.at("principal_angles"), "{:.3g}") + "\n";
  out +=
      fmt::format("alignment residual ||U M - scores|| / ||scores||: {}\n", num(c.at("alignment_residual"), "{:.3g}"));
  return out;
}

std::string mlp_text(const json& r) {
  std::string out;
  const json& runs = r.at("runs");
  constexpr std::size_t kShown = 20;
  out += fmt::format("{:>6} {:>8} {:>8} {:>10}\n", "repeat", "train", "val", "loss");
  for (std::size_t i = 0; i < runs.size() && i < kShown; ++i) {
    const json& run = runs[i];
    out += fmt::format("{:>6} {:>8} {:>8} {:>10}{}\n", run.at("repeat").get<int64_t>(),
                       num(run.at("train_accuracy"), "{:.3f}"), num(run.at("val_accuracy"), "{:.3f}"),
                       num(run.at("final_loss"), "{:.4f}"), run.at("diverged").get<bool>() ? "  DIVERGED" : "");
  }
  // The runs the document holds may be the first few of a streamed study: the summary counts them all.
  const auto summarised = r.at("summary").at("val_accuracy").at("n").get<std::size_t>();
  const auto diverged = r.at("summary").value("diverged_left_out", std::size_t{0});
  const std::size_t total = summarised + diverged;
  if (total > kShown) {
    out += fmt::format("   ... and {} more runs, not shown here: --format json has every run\n", total - kShown);
  }
  out += fmt::format("{:<16} {:>7} {:>7} {:>7} {:>7} {:>7}   ({} runs{}, {} s)\n", "accuracy", "mean", "std", "min",
                     "median", "max", summarised,
                     diverged ? fmt::format("; {} diverged, left out", diverged) : std::string(),
                     num(r.at("seconds"), "{:.3f}"));
  for (const char* metric : {"train_accuracy", "val_accuracy"}) {
    const json& s = r.at("summary").at(metric);
    out += fmt::format("{:<16} {:>7} {:>7} {:>7} {:>7} {:>7}\n", metric, num(s.at("mean"), "{:.3f}"),
                       num(s.at("std"), "{:.3f}"), num(s.at("min"), "{:.3f}"), num(s.at("median"), "{:.3f}"),
                       num(s.at("max"), "{:.3f}"));
  }
  return out;
}

}  // namespace

namespace {

// An array of numbers, strings, booleans and nulls: one line.
bool is_flat(const json& value) {
  if (!value.is_array()) return false;
  for (const json& item : value) {
    if (item.is_structured()) return false;
  }
  return true;
}

void dump_into(std::string& out, const json& value, int indent) {
  const std::string pad(static_cast<std::size_t>(indent + 2), ' ');
  if (value.is_object() && !value.empty()) {
    out += "{\n";
    std::size_t i = 0;
    for (auto it = value.begin(); it != value.end(); ++it, ++i) {
      out += pad + json(it.key()).dump() + ": ";
      dump_into(out, it.value(), indent + 2);
      out += i + 1 < value.size() ? ",\n" : "\n";
    }
    out += std::string(static_cast<std::size_t>(indent), ' ') + "}";
  } else if (value.is_array() && !value.empty() && !is_flat(value)) {
    out += "[\n";
    for (std::size_t i = 0; i < value.size(); ++i) {
      out += pad;
      dump_into(out, value[i], indent + 2);
      out += i + 1 < value.size() ? ",\n" : "\n";
    }
    out += std::string(static_cast<std::size_t>(indent), ' ') + "]";
  } else if (value.is_array()) {
    out += "[";
    for (std::size_t i = 0; i < value.size(); ++i) out += (i ? ", " : "") + value[i].dump();
    out += "]";
  } else {
    out += value.dump();
  }
}

}  // namespace

std::string compact_dump(const json& document) {
  std::string out;
  dump_into(out, document, 0);
  return out;
}

std::string text_summary(const json& doc) {
  const std::string command = doc.at("command");
  const json& r = doc.at("results");
  const json& data = doc.at("data");
  std::string out = fmt::format("labrun {} (seed {}) on {}: {} rows x {} columns\n", command,
                                doc.at("config").at("seed").dump(), data.at("source").get<std::string>(),
                                data.at("rows").get<int64_t>(), data.at("columns").get<int64_t>());
  // The factorisation's scaling, when it is not the exercise's: its numbers are of another matrix.
  const json& config = doc.at("config");
  const json& part = command == "all" && config.contains("factorise") ? config.at("factorise") : config;
  const std::string normalise = part.is_object() ? part.value("normalise", "none") : "none";
  if ((command == "factorise" || command == "pca" || command == "all") && normalise != "none") {
    out += "the factorisation's matrix: " + part.value("preprocessing", "normalise " + normalise) + "\n";
  }
  if (command == "factorise") out += factorise_text(r);
  if (command == "pca") out += pca_text(r);
  if (command == "mlp") out += mlp_text(r);
  if (command == "all") {
    out += "\n[part 1.1-1.2]\n" + factorise_text(r.at("factorise"));
    out += "\n[part 1.3]\n" + pca_text(r.at("factorise"));
    out += "\n[part 2]\n" + mlp_text(r.at("mlp"));
  }
  return out;
}

StreamedDocument::StreamedDocument(json document, const std::vector<std::string>& path, const std::string& array,
                                   Output& output)
    : output_(output) {
  // Laid out whole with a marker where the array goes, then cut there.
  constexpr const char* kMarker = "\u0001labrun-stream\u0001";
  json* object = &document;
  for (const std::string& key : path) object = &object->at(key);
  (*object)[array] = kMarker;
  const std::string text = compact_dump(document) + "\n";
  const std::string dumped = json(kMarker).dump();
  const std::size_t at = text.find(dumped);
  const std::size_t line = text.rfind('\n', at) + 1;
  indent_ = text.find_first_not_of(' ', line) - line;
  suffix_ = text.substr(at + dumped.size());
  output_.write(text.substr(0, at));
}

void StreamedDocument::item(const json& value) {
  pending_ += items_ == 0 ? "[\n" : ",\n";
  pending_.append(indent_ + 2, ' ');
  dump_into(pending_, value, static_cast<int>(indent_ + 2));
  ++items_;
  if (pending_.size() >= (std::size_t{1} << 16)) {
    output_.write(pending_);
    pending_.clear();
  }
}

void StreamedDocument::finish(const json& rest) {
  std::string text = std::move(pending_) + (items_ == 0 ? "[]" : "\n" + std::string(indent_, ' ') + "]");
  pending_.clear();
  for (auto it = rest.begin(); it != rest.end(); ++it) {
    text += ",\n" + std::string(indent_, ' ') + json(it.key()).dump() + ": ";
    dump_into(text, it.value(), static_cast<int>(indent_));
  }
  output_.write(text + suffix_);
}

}  // namespace labrun
