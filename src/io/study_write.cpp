#include "labrun/study_file.hpp"

#include "json_scan.hpp"

#include "labrun/resources.hpp"
#include "labrun/utf8.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>

namespace labrun {
namespace {

// Where the JSON value starting at `at` ends (one past it), or npos when the text ends first.
std::size_t value_end(std::string_view text, std::size_t at) {
  int depth = 0;
  bool closed = false;  // the character found closes the value, and is part of it
  const std::size_t end = detail::scan_outside_strings(text, at, [&](std::size_t, char c) {
    if (c == '{' || c == '[') ++depth;
    if ((c == '}' || c == ']') && --depth == 0) return closed = true;
    return depth == 0 && (c == ',' || c == '}');
  });
  return end == std::string_view::npos || !closed ? end : end + 1;
}

// "1: FLOCK  ADVISORY  WRITE 4242 fd:01:1234 0 EOF": the process holding a lock on fd's inode.
std::string holder_of(int fd) {
  struct stat info {};
  if (::fstat(fd, &info) != 0) return {};
  std::ifstream locks("/proc/locks");
  const std::string inode = ":" + std::to_string(info.st_ino) + " ";
  std::string line;
  while (std::getline(locks, line)) {
    if (line.find("FLOCK") == std::string::npos || line.find(inode) == std::string::npos) continue;
    std::istringstream fields(line);
    std::string number, kind, advisory, mode, pid;
    if (fields >> number >> kind >> advisory >> mode >> pid &&
        pid.find_first_not_of("0123456789") == std::string::npos) {
      return pid;
    }
  }
  return {};
}

// A shell word: as it is when it needs no quoting, else in single quotes.
std::string shell_word(const std::string& word) {
  if (!word.empty() &&
      word.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=/.,:@%") ==
          std::string::npos) {
    return word;
  }
  std::string quoted = "'";
  for (const char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

}  // namespace

bool is_prefix_of_header(std::string_view torn, std::string_view header) {
  if (torn.empty()) return false;
  std::size_t t = 0, h = 0;
  while (t < torn.size()) {
    if (h >= header.size() || torn[t] != header[h]) return false;
    ++t;
    ++h;
    for (const std::string_view key : {std::string_view("\"provenance\":"), std::string_view("\"environment\":")}) {
      if (h >= key.size() && header.substr(h - key.size(), key.size()) == key) {
        const std::size_t torn_end = value_end(torn, t);
        if (torn_end == std::string_view::npos) return true;  // cut inside it
        t = torn_end;
        h = value_end(header, h);
      }
    }
  }
  return true;
}

std::optional<json> recorded_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string first;
  if (!in || !std::getline(in, first)) return std::nullopt;
  if (in.eof()) {
    // A header cut short (a crash while writing it): its seed, when the cut came after it, so that
    // an unseeded study's torn header is recognised as this study's and started afresh.
    const std::size_t config = first.find("\"config\":{");
    const std::size_t seed = config == std::string::npos ? config : first.find("\"seed\":", config);
    const std::size_t given = seed == std::string::npos ? seed : first.find(",\"seed_given\":", seed);
    if (given == std::string::npos) return std::nullopt;
    const std::string digits = first.substr(seed + 7, given - seed - 7);
    if (digits.empty() || digits.size() > 16 || digits.find_first_not_of("0123456789") != std::string::npos) {
      return std::nullopt;
    }
    json partial{{"seed", std::stoull(digits)}};
    const std::string flag = first.substr(given + 14, 5);
    if (flag.rfind("true", 0) == 0) partial["seed_given"] = true;
    if (flag == "false") partial["seed_given"] = false;
    return partial;
  }
  const std::optional<json> header = parse_study_line(first);
  if (header && header->is_object() && header->value("type", "") == "study" && header->contains("config") &&
      header->at("config").is_object()) {
    return header->at("config");
  }
  return std::nullopt;
}

StudyLock::StudyLock(const std::string& path) {
  struct stat info {};
  if (path.empty() || path == "-" || (::stat(path.c_str(), &info) == 0 && !S_ISREG(info.st_mode))) return;
  fd_ = ::open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0666);
  if (fd_ < 0) return;  // the write reports what is wrong with the path
  if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) return;
  const int error = errno;
  const std::string holder = error == EWOULDBLOCK ? holder_of(fd_) : std::string();
  ::close(fd_);
  fd_ = -1;
  if (error != EWOULDBLOCK) throw DataError("cannot lock " + path + ": " + std::strerror(error));
  throw DataError(path + " is being written by another labrun" + (holder.empty() ? "" : " (process " + holder + ")") +
                  ": one process writes a study file at a time; wait for it, or give another -o");
}

StudyLock::~StudyLock() {
  if (fd_ >= 0) ::close(fd_);
}

std::string shard_command(const json& header, int64_t index, int64_t count, const std::string& output) {
  const json* line = nullptr;
  if (header.contains("provenance") && header.at("provenance").contains("command_line")) {
    line = &header.at("provenance").at("command_line");
  }
  if (line == nullptr || !line->is_array() || line->empty()) return {};
  const std::string recorded = header.contains("shard") ? std::to_string(header.at("shard").value("index", 0)) : "";
  std::vector<std::string> words;
  bool resume = false, shard_given = false;
  for (std::size_t i = 0; i < line->size(); ++i) {
    if (!(*line)[i].is_string()) return {};
    std::string word = (*line)[i].get<std::string>();
    const bool shard_value = i > 0 && words.back() == "--shard";
    const bool output_value = i > 0 && (words.back() == "-o" || words.back() == "--output");
    if (word.rfind("--shard=", 0) == 0 || shard_value) {
      word = (shard_value ? "" : "--shard=") + fmt::format("{}/{}", index, count);
      shard_given = true;
    } else if (output_value && !output.empty()) {
      word = output;
    } else if (output_value) {
      const std::size_t at = recorded.empty() ? std::string::npos : word.rfind(recorded);
      word = at == std::string::npos ? fmt::format("shard-{}.jsonl", index)
                                     : word.substr(0, at) + std::to_string(index) + word.substr(at + recorded.size());
    }
    resume = resume || word == "--resume";
    words.push_back(word);
  }
  if (!shard_given) words.insert(words.end(), {"--shard", fmt::format("{}/{}", index, count)});
  if (!resume) words.push_back("--resume");
  std::string text;
  for (const std::string& word : words) text += (text.empty() ? "" : " ") + shell_word(word);
  return text;
}

Prepared prepare_study_file(const std::string& path, const json& header, const HeaderPlan& shard, bool resume,
                            StudySummary& summary) {
  Prepared prepared;
  struct stat existing {};
  const bool holds_something = !path.empty() && path != "-" && ::stat(path.c_str(), &existing) == 0 &&
                               S_ISREG(existing.st_mode) && existing.st_size > 0;
  if (!holds_something) return prepared;
  if (!resume) {
    throw StudyMismatch(path + " already holds something; --resume continues the study in it, or give another -o");
  }
  const StudyPlan& plan = shard.plan;
  StudyFile file;
  try {
    file = read_study(
        path,
        [&](const json& found) {
          plan_from_header(path, found);
          const std::string key = differing_key(found, header);
          if (!key.empty() || found.at("shard") != header.at("shard")) {
            throw StudyMismatch(
                fmt::format("--resume: {} holds another study (its {} differs from this command's); "
                            "run the command that made it, or give another -o",
                            path, key.empty() ? "shard" : key));
          }
        },
        [&](const json& run) {
          // The shard's runs from its first, in order and without a gap: a gap filled at the end
          // would leave runs out of order, which merge and resume refuse.
          const RunRecord record = parse_run(plan, run);
          const int64_t expected = shard.span.begin + summary.count();
          if (record.run(plan) != expected) {
            throw std::invalid_argument(fmt::format("it is run {}, and run {} of shard {}/{} was expected next",
                                                    record.run(plan), expected, shard.index, shard.count));
          }
          summary.add(record);
        },
        /*allow_torn_header=*/true);
  } catch (const NotAStudy& e) {
    throw StudyMismatch(std::string("--resume: ") + e.what() + "; it is left as it was: give another -o");
  }
  prepared.fresh = false;
  if (file.torn_header) {
    // A crash (a full disk) inside this study's header leaves a prefix of it: start afresh.
    // Anything else is someone's file, and stays as it is.
    if (!is_prefix_of_header(file.header_text, header.dump())) {
      throw StudyMismatch("--resume: " + path + " holds one line, cut short, that is not this study's header; " +
                          "it is left as it was: give another -o");
    }
    prepared.notes.push_back(path +
                             ": it holds this study's header cut short (a crash while writing it) and no runs; " +
                             "the study starts afresh");
    prepared.fresh = true;
  }
  if (::truncate(path.c_str(), static_cast<off_t>(file.runs_end)) != 0) {
    throw DataError("cannot cut " + path + " after its runs: " + std::strerror(errno));
  }
  if (file.torn) {
    prepared.notes.push_back(path + ": its last line was cut short (a crash while writing) and is dropped; " +
                             (file.torn_run ? "that run is trained again" : "it was not a run: no run is lost"));
  }
  if (!prepared.fresh) prepared.notes.push_back(fmt::format("{}: {} runs were there and are kept", path, file.runs));
  prepared.kept = file.runs;
  prepared.processes = std::move(file.processes);
  return prepared;
}

std::string process_differences(const std::vector<json>& processes) {
  // What changes a run's numbers: the BLAS kernel (its rounding), labrun's version and build.
  for (const char* key : {"blas_kernel", "labrun_version", "build_commit"}) {
    std::map<std::string, std::vector<int64_t>> runs_by_value;  // value -> first runs of its processes
    for (const json& process : processes) {
      const json value = process.contains(key) ? process.at(key) : json(nullptr);
      runs_by_value[value.is_string() ? value.get<std::string>() : value.dump()].push_back(
          process.value("first_run", int64_t{-1}));
    }
    if (runs_by_value.size() < 2) continue;
    std::string which;
    for (const auto& [value, firsts] : runs_by_value) {
      which += (which.empty() ? "" : ", ") + printable(value, 60) +
               fmt::format(" (from run{} {})", firsts.size() > 1 ? "s" : "", fmt::join(firsts, ", "));
    }
    return fmt::format(
        "its runs were written by {} processes with different {}s: {}; runs of one setting may differ in "
        "rounding between them, and the study is not byte for byte what one process writes (docs/numerics.md)",
        processes.size(), std::string(key) == "blas_kernel" ? "BLAS kernel" : key, which);
  }
  return "";
}

Merged merge_studies(const std::vector<std::string>& paths, const std::function<void(const std::string&)>& write) {
  if (paths.empty()) throw StudyMismatch("no shard to merge");
  // Every header first: one study, each shard once, none missing. Each shard is opened once and
  // read once: its header now, its runs below, from the same stream (a named FIFO or a process
  // substitution can be read only once).
  struct Part {
    std::string path;
    json header;
    std::string first_line;
    std::unique_ptr<std::ifstream> in;
  };
  // The same file twice (a shard named twice, through a link, or a FIFO that would wait forever
  // for a second writer) is refused before any is opened.
  std::map<std::pair<dev_t, ino_t>, std::string> seen;
  for (const std::string& path : paths) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) continue;  // opening it says what is wrong
    const auto [at, fresh] = seen.emplace(std::make_pair(info.st_dev, info.st_ino), path);
    if (!fresh) throw StudyMismatch(at->second + " and " + path + " are the same file: give each shard once");
  }
  std::vector<Part> parts;
  for (const std::string& path : paths) {
    auto in = std::make_unique<std::ifstream>(path, std::ios::binary);
    if (!*in) throw DataError("cannot read " + path + ": " + std::strerror(errno));
    std::string first;
    if (!std::getline(*in, first)) throw DataError("cannot read " + path + ": empty or unreadable");
    const std::optional<json> parsed = parse_study_line(first);
    if (!parsed) throw NotAStudy(path + ": line 1 is not JSON: not a labrun study");
    const json& header = *parsed;
    if (!header.is_object() || header.value("type", "") != "study") {
      throw NotAStudy(path + ": line 1 is not a labrun study's header (type \"study\")");
    }
    // A regular file is closed until its runs are read (a merge of thousands of shards would run
    // out of descriptors), and opened again then; a stream stays open, as it can be read once.
    struct stat info {};
    if (::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode)) in.reset();
    parts.push_back({path, header, first, std::move(in)});
  }
  const json& first = parts.front().header;
  const HeaderPlan first_plan = plan_from_header(parts.front().path, first);
  const StudyPlan& plan = first_plan.plan;
  const int64_t count = first_plan.count;
  // plan_from_header has refused a count beyond kMaxShards.
  std::vector<const Part*> by_index(static_cast<std::size_t>(count), nullptr);
  std::map<const Part*, HeaderPlan> shards;
  for (const Part& part : parts) {
    const HeaderPlan h = &part == &parts.front() ? first_plan : plan_from_header(part.path, part.header);
    const std::string key = differing_key(part.header, first);
    if (!key.empty()) {
      throw StudyMismatch(
          fmt::format("{} and {} are not shards of one study: their {} differ", parts.front().path, part.path, key));
    }
    if (h.count != count) {
      throw StudyMismatch(fmt::format("{} is shard {}/{} and {} is of {} shards: not one study's shards", part.path,
                                      h.index, h.count, parts.front().path, count));
    }
    const Part*& slot = by_index[static_cast<std::size_t>(h.index - 1)];
    if (slot != nullptr) {
      throw StudyMismatch(fmt::format("{} and {} are both shard {}/{}", slot->path, part.path, h.index, count));
    }
    slot = &part;
    shards[&part] = h;
  }
  for (std::size_t i = 0; i < by_index.size(); ++i) {
    if (by_index[i] == nullptr) {
      const std::string rerun = shard_command(first, static_cast<int64_t>(i) + 1, count);
      throw StudyMismatch(
          fmt::format("shard {}/{} is missing{}", i + 1, count, rerun.empty() ? "" : "; make it with: " + rerun));
    }
  }
  require_memory(StudySummary::memory(plan), "the merge's summary", "");

  Merged merged;
  merged.study = first_plan;
  merged.study.index = merged.study.count = 1;
  merged.study.span = {0, plan.runs()};
  json header = first;
  header["shard"] = {{"index", 1}, {"count", 1}, {"first_run", 0}, {"end_run", plan.runs()}};
  json from;
  for (const Part& part : parts) from.push_back(part.path);
  header["merged_from"] = from;
  write(header.dump() + "\n");
  StudySummary summary(plan);
  std::vector<json> processes;
  for (const Part* part : by_index) {
    const HeaderPlan& shard = shards.at(part);
    std::string pending;
    std::ifstream reopened;
    if (!part->in) {
      reopened.open(part->path, std::ios::binary);
      std::string header_again;
      if (!reopened || !std::getline(reopened, header_again) || header_again != part->first_line) {
        throw DataError(part->path + ": changed or gone while merging (its header is not the one read first)");
      }
    }
    const StudyFile file = read_study(
        part->in ? *part->in : reopened, part->path, &part->first_line, [](const json&) {},
        [&](const json& run) {
          const RunRecord record = parse_run(plan, run);
          const int64_t number = record.run(plan);
          if (number < shard.span.begin || number >= shard.span.end) {
            throw DataError(fmt::format("{}: run {} is not in its shard's runs [{}, {})", part->path, number,
                                        shard.span.begin, shard.span.end));
          }
          summary.add(record);
          pending += run.dump() + "\n";
          if (pending.size() > 65536) {
            write(pending);
            pending.clear();
          }
        },
        /*allow_torn_header=*/false, [&](const json& process) { pending += process.dump() + "\n"; });
    write(pending);
    if (file.torn || file.runs != shard.span.end - shard.span.begin) {
      const std::string rerun = shard_command(part->header, shard.index, count, part->path);
      throw DataError(
          fmt::format("{} (shard {}/{}) holds {} of its {} runs{}: finish it with the same command and "
                      "--resume{}",
                      part->path, shard.index, count, file.runs, shard.span.end - shard.span.begin,
                      file.torn ? " and a torn last line" : "", rerun.empty() ? "" : ": " + rerun));
    }
    processes.insert(processes.end(), file.processes.begin(), file.processes.end());
  }
  merged.cells = summary.cells();
  write(closing_lines(plan, merged.cells, summary.count()));
  if (const std::string note = process_differences(processes); !note.empty()) merged.notes.push_back(note);
  return merged;
}

}  // namespace labrun
