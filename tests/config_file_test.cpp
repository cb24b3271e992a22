// The config-file reader (labrun/config_file.hpp), driven directly: what it reads, what it writes
// back unchanged, and the line it names for each kind of file it refuses.

#include "labrun/config_file.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

namespace labrun {
namespace {

using Strings = std::vector<std::string>;

TEST(ConfigFile, ReadsSectionsListsStringsAndComments) {
  const std::string text =
      "\xef\xbb\xbf# written by hand\r\n"
      "[sweep.mlp]   # the study\r\n"
      "lr = [0.01, 0.1]\n"
      "epochs = [100,\n"
      "  # a comment inside a list\n"
      "  1000,   ]\n"
      "data = \"runs/wine #2.csv\"  # '#' inside quotes is text\n"
      "label='a \"quoted\" name'\n"
      "engine=batched\n"
      "reshuffle = true\n"
      "\n"
      "[factorise]\n"
      "mlp.seed = 5\n"
      "path = \"tab\\there\\nline \\\"q\\\" \\\\ \\u00e9 \\U0001F600\"\n";
  const std::vector<ConfigEntry> entries = parse_config(text, "run.toml");
  ASSERT_EQ(entries.size(), 8u);
  EXPECT_EQ(entries[0].section, (Strings{"sweep", "mlp"}));
  EXPECT_EQ(entries[0].key, "lr");
  EXPECT_EQ(entries[0].values, (Strings{"0.01", "0.1"}));
  EXPECT_TRUE(entries[0].list);
  EXPECT_EQ(entries[0].line, 3);
  EXPECT_EQ(entries[1].values, (Strings{"100", "1000"}));
  EXPECT_EQ(entries[2].values, Strings{"runs/wine #2.csv"});
  EXPECT_FALSE(entries[2].list);
  EXPECT_EQ(entries[2].line, 7);
  EXPECT_EQ(entries[3].values, Strings{"a \"quoted\" name"});
  EXPECT_EQ(entries[4].values, Strings{"batched"});
  EXPECT_EQ(entries[5].values, Strings{"true"});
  EXPECT_EQ(entries[6].section, (Strings{"factorise", "mlp"}));
  EXPECT_EQ(entries[6].key, "seed");
  EXPECT_EQ(entries[7].values, Strings{"tab\there\nline \"q\" \\ \xc3\xa9 \xf0\x9f\x98\x80"});
}

// Whatever a value holds (a '#', both quotes, a newline, a backslash, a control byte, non-ASCII),
// config_value writes it so that the reader gives it back byte for byte.
TEST(ConfigFile, WrittenValuesReadBackUnchanged) {
  for (const std::string& value : Strings{"plain",
                                          "a#b.csv",
                                          "say \"hi\" and 'bye'",
                                          "two\nlines",
                                          "back\\slash",
                                          std::string("bell\x07\x7f", 6),
                                          "caf\xc3\xa9 \xe6\x97\xa5",
                                          " leading and trailing ",
                                          "",
                                          "0.01",
                                          "-1e-5",
                                          "1e",
                                          "inf",
                                          "nan",
                                          "0x10",
                                          "true",
                                          "[0.1]",
                                          "=",
                                          "'",
                                          "\"\"\""}) {
    const std::string written = config_value(value);
    const std::vector<ConfigEntry> entries = parse_config("[mlp]\nkey = " + written + "\n", "t.toml");
    ASSERT_EQ(entries.size(), 1u) << written;
    EXPECT_EQ(entries[0].values, Strings{value}) << written;
  }
  EXPECT_EQ(config_value("0.01"), "0.01");
  EXPECT_EQ(config_value("true"), "true");
  EXPECT_EQ(config_value("inf"), "\"inf\"");  // a word, quoted: the reader takes bare words too
}

// Every refusal names the file and the line, and says what to write instead.
TEST(ConfigFile, RefusesWhatItCannotReadNamingTheLine) {
  struct Bad {
    std::string text;
    std::string message;
  };
  for (const Bad& bad : std::vector<Bad>{
           {"[mlp]\nlr=0.1\nlr=1\n", "t.toml: line 3: lr is given twice (lines 2 and 3)"},
           {"[mlp]\n[factorise]\n[mlp]\n", "t.toml: line 3: section [mlp] is given twice (lines 1 and 3)"},
           {"[mlp]\ndata=\"open\n", "t.toml: line 2: a \"...\" string is not closed on its line"},
           {"[mlp]\ndata='open\n", "t.toml: line 2: a '...' string is not closed on its line"},
           {"[mlp]\nlr=[0.1,\n1\n", "t.toml: line 2: the list is not closed by ]"},
           {"[mlp]\nlr=[0.1 1]\n", "t.toml: line 2: expected ',' or ']' in the list"},
           {"[[mlp]]\n", "t.toml: line 1: [[arrays of tables]] hold no options"},
           {"[mlp]\nx={a=1}\n", "t.toml: line 2: inline tables {...} hold no options"},
           {"[mlp]\nx=\"\"\"a\"\"\"\n", "t.toml: line 2: multi-line strings are not read"},
           {"[mlp]\nx=\"\\q\"\n", "t.toml: line 2: unknown escape \\q"},
           {"[mlp]\nx=\"\\ud800\"\n", "t.toml: line 2: \\ud800 is not a Unicode scalar value"},
           {"[mlp]\nx=\"\\u12\"\n", "t.toml: line 2: \\u takes 4 hexadecimal digits"},
           {"[mlp]\nx=\"a\x01\"\n", "t.toml: line 2: a control character (\\x01) in a string"},
           {"[mlp]\nrank 2\n", "t.toml: line 2: expected '=' after the key rank"},
           {"[mlp]\nrank=2 3\n", "t.toml: line 2: unexpected '3' after the value"},
           {"[mlp]\nrank=\n", "t.toml: line 2: a value is missing after '='"},
           {"[mlp]\n\"rank\"=2\n", "t.toml: line 2: quoted keys name no option"},
           {"[mlp\n", "t.toml: line 1: a section name ends with ]"},
           {"[mlp]\n=2\n", "t.toml: line 2: expected a key, e.g. rank = 2"},
           {std::string("[mlp]\nrank=2\n\0\n", 14), "t.toml: line 3 holds a NUL byte"},
           {"[mlp]\n\ndata=\"caf\xe9.csv\"\n", "t.toml: line 3 is not UTF-8 (byte 17)"},
       }) {
    try {
      parse_config(bad.text, "t.toml");
      ADD_FAILURE() << "accepted: " << bad.text;
    } catch (const ConfigError& e) {
      EXPECT_EQ(std::string(e.what()).rfind(bad.message, 0), 0u) << e.what();
    }
  }
}

// Read whole, with a bound: /dev/zero is refused at its first byte, a file past the bound once it
// passes it, and a stream that fails is an error, never an empty config.
TEST(ConfigFile, ReadsWithABoundAndNeverIgnoresAFailedRead) {
  std::istringstream zeros(std::string(100, '\0'));
  EXPECT_THROW(
      try { read_config(zeros, "/dev/zero"); } catch (const ConfigError& e) {
        EXPECT_EQ(std::string(e.what()), "/dev/zero: line 1 holds a NUL byte: not a config file");
        throw;
      },
      ConfigError);
  std::istringstream huge(std::string(kMaxConfigBytes + 1, '#'));
  EXPECT_THROW(read_config(huge, "big.toml"), ConfigError);
  std::istringstream largest("[mlp]\n" + std::string(kMaxConfigBytes - 6, '#'));
  EXPECT_TRUE(read_config(largest, "full.toml").empty());
  std::istringstream failing("[mlp]\nrank=2\n");
  failing.setstate(std::ios::badbit);
  EXPECT_THROW(read_config(failing, "bad.toml"), ConfigError);
  std::istringstream good("[mlp]\nrank=2\n");
  EXPECT_EQ(read_config(good, "good.toml").size(), 1u);
}

}  // namespace
}  // namespace labrun
