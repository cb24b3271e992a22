#include "labrun/dataset.hpp"
#include "labrun/options.hpp"
#include "labrun/resources.hpp"
#include "labrun/sha256.hpp"
#include "labrun/utf8.hpp"

#include "tensor_check.hpp"
#include "test_files.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <iostream>
#include <limits>
#include <string>
#include <thread>
#include <vector>

namespace labrun {
namespace {

using test::read_file;
using test::temp_dir;
using test::write_file;

// Expects parse_csv to throw DataError whose message holds every one of `parts`.
void expect_error(const std::string& text, const std::vector<std::string>& parts, const CsvOptions& options = {}) {
  try {
    parse_csv(text, "t.csv", options);
    ADD_FAILURE() << "no error for:\n" << text;
  } catch (const DataError& e) {
    const std::string message = e.what();
    for (const auto& part : parts) EXPECT_NE(message.find(part), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << "one line: " << message;
  }
}

TEST(Dataset, EmbeddedIrisIsTheShippedFileByteForByte) {
  EXPECT_EQ(embedded_iris_text(), read_file(LABRUN_SOURCE_DIR "/data/iris.data"));
  EXPECT_EQ(embedded_iris_text().size(), 4551u);  // ../shared/data/README.md
}

TEST(Dataset, ReadsIrisAsTheExerciseDoes) {
  const Dataset iris = load_embedded_iris();
  ASSERT_EQ(iris.rows(), 150);
  ASSERT_EQ(iris.columns(), 4);
  EXPECT_EQ(iris.features.scalar_type(), torch::kFloat64);
  EXPECT_EQ(iris.feature_columns, (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(iris.label_column, 4);
  EXPECT_FALSE(iris.has_header);
  ASSERT_EQ(iris.labels.size(), 150u);
  EXPECT_EQ(iris.labels.front(), "Iris-setosa");
  EXPECT_EQ(iris.labels.back(), "Iris-virginica");
  // First row 5.1,3.5,1.4,0.2; the UCI quirk: rows 35 and 38 (lines 35 and 38) are 4.9,3.1,1.5,0.1.
  EXPECT_TRUE(test::tensors_close(iris.features[0], torch::tensor({5.1, 3.5, 1.4, 0.2}, torch::kFloat64), 0.0));
  EXPECT_TRUE(test::tensors_close(iris.features[34], torch::tensor({4.9, 3.1, 1.5, 0.1}, torch::kFloat64), 0.0));
  EXPECT_TRUE(test::tensors_close(iris.features[37], torch::tensor({4.9, 3.1, 1.5, 0.1}, torch::kFloat64), 0.0));
  // Column sums of the UCI file, summed by hand from its columns.
  EXPECT_NEAR(iris.features.sum(0)[0].item<double>(), 876.5, 1e-9);
  EXPECT_NEAR(iris.features.sum(0)[2].item<double>(), 563.8, 1e-9);
}

TEST(Dataset, CrlfLineEndsReadAsLf) {
  std::string crlf;
  for (const char c : embedded_iris_text()) {
    if (c == '\n') crlf += '\r';
    crlf += c;
  }
  const Dataset a = parse_csv(crlf, "crlf.csv");
  const Dataset b = load_embedded_iris();
  EXPECT_TRUE(torch::equal(a.features, b.features));
  EXPECT_EQ(a.labels, b.labels);
}

TEST(Dataset, DetectsAHeaderRowAndNamesColumns) {
  const Dataset d = parse_csv("a,b,kind\n1,2,x\n3,4,y\n", "h.csv");
  EXPECT_TRUE(d.has_header);
  EXPECT_EQ(d.rows(), 2);
  EXPECT_EQ(d.feature_names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(d.labels, (std::vector<std::string>{"x", "y"}));
}

TEST(Dataset, AllNumericTableHasNoLabel) {
  const Dataset d = parse_csv("1,2,3\n4,5,6\n", "n.csv");
  EXPECT_FALSE(d.label_column.has_value());
  EXPECT_EQ(d.columns(), 3);
  EXPECT_TRUE(d.labels.empty());
}

TEST(Dataset, SelectsFeaturesAndLabelByIndex) {
  CsvOptions options;
  options.features = {2, 0};
  options.label = 1;
  const Dataset d = parse_csv("1,p,3\n4,q,6\n", "s.csv", options);
  EXPECT_TRUE(test::tensors_close(d.features, torch::tensor({{3.0, 1.0}, {6.0, 4.0}}, torch::kFloat64), 0.0));
  EXPECT_EQ(d.labels, (std::vector<std::string>{"p", "q"}));
}

TEST(Dataset, AcceptsQuotesSignsExponentsAndBlanks) {
  const Dataset d = parse_csv(" +1.5 , -2e-1,\"a, \"\"b\"\"\"\n\n3,4 ,c\n\n", "q.csv");
  EXPECT_TRUE(test::tensors_close(d.features, torch::tensor({{1.5, -0.2}, {3.0, 4.0}}, torch::kFloat64), 0.0));
  EXPECT_EQ(d.labels.front(), "a, \"b\"");
}

TEST(Dataset, RejectsBadTextNamingLineAndColumn) {
  expect_error("", {"t.csv", "empty"});
  expect_error("\n\r\n  \n", {"only blank lines"});
  expect_error(std::string("1,2\n3,\0"
                           "4\n",
                           8),
               {"line 2", "NUL"});
  expect_error("1,2,x\n3,4,y\n5,z\n", {"line 3", "2 cells", "expected 3"});
  expect_error("1,2,x\n3,4a,y\n", {"line 2, column 1", "non-numeric cell '4a'"});
  expect_error("1,2,x\n3,,y\n", {"line 2, column 1", "empty cell"});
  expect_error("1,2,x\nnan,4,y\n", {"line 2, column 0", "non-finite value 'nan'"});
  expect_error("1,2,x\n3,inf,y\n", {"line 2, column 1", "non-finite"});
  expect_error("1,2,x\n3,1e999,y\n", {"line 2, column 1", "non-finite"});
  expect_error("1,\"2,x\n", {"line 1", "unterminated"});
  expect_error("a,b\nc,d\n", {"no numeric column"});
  // Issue 16: bytes that are not UTF-8, and a column of numbers whose first cell is text.
  expect_error("x\xff,1\n2,3\n", {"line 1, byte 2 (0xff) is not UTF-8"});
  expect_error("1,2,a\n3,4,\xed\xa0\x80\n", {"line 2, byte 5 (0xed)"});  // a surrogate
  expect_error("n/a,1,x\n2,3,y\n", {"line 1, column 0: 'n/a' is not a number, but line 2 holds one"});
}

TEST(Dataset, AByteOrderMarkIsSkippedAndTextColumnsAreListed) {
  const Dataset with_bom = parse_csv("\xEF\xBB\xBFid,x,y,kind\na,1,2,p\nb,3,5,q\n", "t.csv");
  EXPECT_TRUE(with_bom.has_header);
  EXPECT_EQ(with_bom.feature_names, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(with_bom.ignored_columns, (std::vector<int64_t>{0}));
  EXPECT_EQ(with_bom.label_column, 3);
  EXPECT_EQ(with_bom.labels, (std::vector<std::string>{"p", "q"}));
}

TEST(Dataset, ANumberBelowDoublesRangeIsZeroAndOneAboveIsRefused) {
  const Dataset data = parse_csv("1e-400,-2e-330,4.9e-324\n1,2,3\n", "t.csv");
  EXPECT_EQ(data.features[0][0].item<double>(), 0.0);
  EXPECT_EQ(data.features[0][1].item<double>(), 0.0);
  EXPECT_TRUE(std::signbit(data.features[0][1].item<double>()));
  EXPECT_EQ(data.features[0][2].item<double>(), 4.9e-324);  // the smallest subnormal still reads as itself
  expect_error("1e309,1\n2,3\n", {"line 1, column 0", "non-finite value '1e309'"});
}

// Issue 15: the files a pandas user has.
TEST(Dataset, DetectsSemicolonAndTabAndTakesAForcedDelimiter) {
  // A comma inside quotes does not count; the semicolons split every line alike.
  EXPECT_EQ(parse_csv("a;b;\"kind, of\"\n1;2;x\n3;4;y\n", "t.csv").delimiter, ';');
  const Dataset semi = parse_csv("a;b;kind\n1.5;2;x\n3;4;y\n", "t.csv");
  EXPECT_EQ(semi.delimiter, ';');
  EXPECT_EQ(semi.feature_names, (std::vector<std::string>{"a", "b"}));
  const Dataset tabs = parse_csv("a\tb\tkind\n1\t2\tx\n3\t4\ty\n", "t.csv");
  EXPECT_EQ(tabs.delimiter, '\t');
  EXPECT_EQ(tabs.labels, (std::vector<std::string>{"x", "y"}));
  CsvOptions forced;
  forced.delimiter = ';';
  EXPECT_EQ(parse_csv("1;2\n3;4\n", "t.csv", forced).columns(), 2);
  forced.delimiter = '|';
  EXPECT_THROW(parse_csv("1|2\n3|4\n", "t.csv", forced), std::invalid_argument);
}

TEST(Dataset, NamesColumnsByHeaderAsWellAsByIndex) {
  CsvOptions options;
  options.features = {"c", 0};
  options.label = "kind";
  const Dataset data = parse_csv("a,b,c,kind\n1,2,3,x\n4,5,6,y\n", "t.csv", options);
  EXPECT_EQ(data.feature_columns, (std::vector<int64_t>{2, 0}));
  EXPECT_EQ(data.label_column, 3);
  options.features = {"d"};
  expect_error("a,b,c,kind\n1,2,3,x\n4,5,6,y\n", {"no feature column named 'd' (the header names a, b, c, kind)"},
               options);
  expect_error("1,2,3,x\n4,5,6,y\n", {"the file has no header row"}, options);
  // Did you mean: case, '-' for '_', a letter or two off; nothing when no name is close, and the
  // header's names in full however many there are (issue 26, kind 10).
  const std::string wine = "alcohol,malic_acid,ash,Class\n1,2,3,a\n2,3,1,b\n";
  options.label = "Class";
  for (const auto& [typed, meant] : std::vector<std::pair<std::string, std::string>>{
           {"malic-acid", "malic_acid"}, {"Alcohl", "alcohol"}, {"ASH", "ash"}}) {
    options.features = {typed};
    expect_error(wine, {"named '" + typed + "'; did you mean '" + meant + "'?"}, options);
  }
  options.features = {"zzz"};
  expect_error(wine, {"named 'zzz' (the header names alcohol, malic_acid, ash, Class)"}, options);
  std::string wide, row;
  for (int c = 0; c < 30; ++c) {
    wide += (c ? "," : "") + std::string("feature_number_") + std::to_string(c);
    row += (c ? "," : "") + std::to_string(c);
  }
  options.features = {"feature_number_29x"};
  options.label.reset();
  expect_error(wide + "\n" + row + "\n" + row + "\n", {"did you mean 'feature_number_29'?", "feature_number_29)"},
               options);
}

// Issue 26, kind 11: quotes are CSV's syntax, not a type (pandas reads "3" as 3), and an index is
// what pandas writes, digits alone: a column of 1.0, 2.0, ... under an empty header is a feature.
TEST(Dataset, QuotedNumbersAreNumbersAndAnIndexIsDigits) {
  const Dataset quoted = parse_csv("a,b,c\n1,2,\"3\"\n4,5,\" 6 \"\n7,8,\"9\"\n", "t.csv");
  EXPECT_EQ(quoted.feature_columns, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_FALSE(quoted.label_column.has_value());
  EXPECT_EQ(quoted.features[1][2].item<double>(), 6.0);
  const Dataset decimals = parse_csv(",x,y\n1.0,2,3\n2.0,5,1\n3.0,1,1\n", "t.csv");
  EXPECT_FALSE(decimals.index_column.has_value());
  EXPECT_EQ(decimals.feature_columns, (std::vector<int64_t>{0, 1, 2}));
  // A quoted text cell is still text: the label.
  const Dataset labelled = parse_csv("a,b,kind\n1,2,\"x, y\"\n4,5,\"z\"\n", "t.csv");
  EXPECT_EQ(labelled.label_column, 2);
}

TEST(Dataset, LeavesOutPandasIndexAndNotesCodedLabels) {
  // DataFrame.to_csv(): the index first, under an empty header cell, here after a shuffle.
  const Dataset indexed = parse_csv(",x,y,kind\n2,1.5,2,a\n0,3,4,b\n1,5,1,a\n", "t.csv");
  EXPECT_EQ(indexed.index_column, 0);
  EXPECT_EQ(indexed.feature_columns, (std::vector<int64_t>{1, 2}));
  // Not an index: a repeated value, or a name above it.
  EXPECT_FALSE(parse_csv(",x,kind\n1,1.5,a\n1,3,b\n", "t.csv").index_column);
  EXPECT_FALSE(parse_csv("id,x,kind\n0,1.5,a\n1,3,b\n", "t.csv").index_column);
  // A last column of a few whole numbers, no label asked for: read as a feature, and flagged.
  std::string coded = "x,y,species\n";
  for (int r = 0; r < 12; ++r)
    coded += std::to_string(r) + ".5," + std::to_string(r % 5) + ".25," + std::to_string(r % 3) + "\n";
  const Dataset flagged = parse_csv(coded, "t.csv");
  EXPECT_EQ(flagged.looks_like_labels, 2);
  EXPECT_EQ(flagged.feature_columns, (std::vector<int64_t>{0, 1, 2}));
  CsvOptions as_label;
  as_label.label = "species";
  const Dataset labelled = parse_csv(coded, "t.csv", as_label);
  EXPECT_FALSE(labelled.looks_like_labels);
  EXPECT_EQ(labelled.labels.front(), "0");
}

TEST(Sha256, MatchesTheStandardsTestVectors) {
  // FIPS 180-4 examples, and lengths around the padding's edges (55, 56, 64 bytes: sha256sum).
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(55, 'a')), "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  EXPECT_EQ(sha256_hex(std::string(56, 'a')), "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  EXPECT_EQ(sha256_hex(std::string(64, 'a')), "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, GivesTheSameDigestForAnySplitOfTheBytes) {
  // Pieces that straddle block edges, leave partial blocks, and are empty.
  std::string text;
  for (int i = 0; i < 1000; ++i) text += static_cast<char>('a' + i * 7 % 26);
  const std::string whole = sha256_hex(text);
  for (const std::size_t piece : {std::size_t{1}, std::size_t{3}, std::size_t{55}, std::size_t{63}, std::size_t{64},
                                  std::size_t{65}, std::size_t{200}}) {
    Sha256 hash;
    hash.update("");
    for (std::size_t at = 0; at < text.size(); at += piece) hash.update(std::string_view(text).substr(at, piece));
    EXPECT_EQ(hash.hex(), whole) << "pieces of " << piece;
  }
}

TEST(Dataset, RecordsTheDigestAndAbsolutePathOfWhatItRead) {
  // data/iris.data is the UCI file: sha256sum gives this digest.
  const Dataset iris = read_csv(LABRUN_SOURCE_DIR "/data/iris.data");
  EXPECT_EQ(iris.sha256, sha256_hex(read_file(LABRUN_SOURCE_DIR "/data/iris.data")));
  EXPECT_EQ(iris.sha256, load_embedded_iris().sha256);
  EXPECT_TRUE(std::filesystem::path(iris.path).is_absolute());
  EXPECT_TRUE(load_embedded_iris().path.empty());
}

TEST(Utf8, FindsTheFirstByteOfAnInvalidSequence) {
  EXPECT_EQ(invalid_utf8_offset(""), std::nullopt);
  EXPECT_EQ(invalid_utf8_offset("plain ASCII, l\xc3\xa4ngd, \xe2\x82\xac, \xf0\x9f\x98\x80"), std::nullopt);
  EXPECT_EQ(invalid_utf8_offset("l\xe4ngd"), 1u);          // Latin-1
  EXPECT_EQ(invalid_utf8_offset("ab\xc0\xaf"), 2u);        // overlong '/'
  EXPECT_EQ(invalid_utf8_offset("\xe0\x80\xaf"), 0u);      // overlong, three bytes
  EXPECT_EQ(invalid_utf8_offset("\xed\xa0\x80"), 0u);      // a UTF-16 surrogate
  EXPECT_EQ(invalid_utf8_offset("\xf4\x90\x80\x80"), 0u);  // above U+10FFFF
  EXPECT_EQ(invalid_utf8_offset("x\xe2\x82"), 1u);         // truncated
  EXPECT_EQ(invalid_utf8_offset("\x80"), 0u);              // a lone continuation byte
  EXPECT_EQ(invalid_utf8_offset("\xf5\x80\x80\x80"), 0u);  // no such lead byte
}

TEST(Utf8, PrintableKeepsCharactersAndEscapesControlsAndBadBytes) {
  EXPECT_EQ(printable("plain"), "plain");
  EXPECT_EQ(printable("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  EXPECT_EQ(printable("\x1b[31mred\nline"), "\\x1b[31mred\\x0aline");  // an escape sequence, a newline
  EXPECT_EQ(printable("l\xe4ngd"), "l\\xe4ngd");                       // Latin-1
  EXPECT_EQ(printable("\xc2\x9b"), "\\xc2\\x9b");                      // a C1 control (CSI)
  EXPECT_EQ(printable("\xe2\x82"), "\\xe2\\x82");                      // cut short
  EXPECT_EQ(printable("ab\xc3\xa9", 3), "ab\\xc3...");                 // never half a character
}

TEST(Resources, MemoryIsRefusedWithBothFiguresAndAllowedWhenItFits) {
  const MemoryBudget budget = available_memory();
  EXPECT_GT(budget.bytes, 0.0);
  EXPECT_FALSE(budget.limited_by.empty());
  EXPECT_NO_THROW(require_memory(1024.0, "a small run"));
  try {
    require_memory(1e30, "a huge run", "; use less");
    ADD_FAILURE() << "no error for 1e30 bytes";
  } catch (const ResourceError& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind("a huge run needs about ", 0), 0u) << message;
    EXPECT_NE(message.find(" is available ("), std::string::npos) << message;
    EXPECT_NE(message.find("; use less"), std::string::npos) << message;
  }
  EXPECT_EQ(format_bytes(512), "512 bytes");
  EXPECT_EQ(format_bytes(1536), "1.50 KiB");
  EXPECT_EQ(format_bytes(338.0 * 1024 * 1024 * 1024), "338 GiB");
}

TEST(Dataset, RejectsColumnsOutOfRangeAndTooFewRows) {
  CsvOptions out_of_range;
  out_of_range.features = {0, 5};
  expect_error("1,2,x\n", {"feature column 5 is out of range", "3 columns"}, out_of_range);
  CsvOptions both;
  both.features = {0, 2};
  both.label = 2;
  expect_error("1,2,3\n", {"column 2 cannot be both"}, both);
  CsvOptions rows;
  rows.min_rows = 3;
  expect_error("1,2\n3,4\n", {"2 data rows, at least 3 needed"}, rows);
}

TEST(Dataset, ReadCsvReportsMissingAndDirectoryPaths) {
  const std::string dir = temp_dir();
  EXPECT_THROW(
      {
        try {
          read_csv(dir + "/missing.csv");
        } catch (const DataError& e) {
          EXPECT_NE(std::string(e.what()).find("missing.csv: no such file"), std::string::npos) << e.what();
          throw;
        }
      },
      DataError);
  EXPECT_THROW(read_csv(dir), DataError);
  write_file(dir + "/empty.csv", "");
  EXPECT_THROW(read_csv(dir + "/empty.csv"), DataError);
  write_file(dir + "/ok.csv", "1,2\n3,4\n");
  EXPECT_EQ(read_csv(dir + "/ok.csv").rows(), 2);
}

TEST(Dataset, CentreColumnsRemovesTheColumnMeans) {
  const torch::Tensor A = centre_columns(load_embedded_iris().features);
  EXPECT_LT(A.mean(0).abs().max().item<double>(), 1e-12);
}

TEST(Dataset, ReadsNpyInEitherOrderAndPrecision) {
  const std::string dir = test::temp_dir();
  const torch::Tensor expected = torch::tensor({{1.5, -2.0, 3.25}, {4.0, 5.5, -6.0}}, torch::kFloat64);
  const std::vector<double> c_order = {1.5, -2.0, 3.25, 4.0, 5.5, -6.0};
  const std::vector<double> f_order = {1.5, 4.0, -2.0, 5.5, 3.25, -6.0};
  const std::vector<float> c_f4(c_order.begin(), c_order.end()), f_f4(f_order.begin(), f_order.end());
  const std::vector<std::pair<std::string, std::string>> files = {
      {"c8.npy", test::npy("<f8", false, "(2, 3)", test::bytes_of(c_order))},
      {"f8.npy", test::npy("<f8", true, "(2, 3)", test::bytes_of(f_order))},
      {"c4.npy", test::npy("<f4", false, "(2, 3)", test::bytes_of(c_f4))},
      {"f4.npy", test::npy("<f4", true, "(2, 3)", test::bytes_of(f_f4), 2)},
      {"v3.npy", test::npy("<f8", false, "(2, 3)", test::bytes_of(c_order), 3)}};
  for (const auto& [name, content] : files) {
    SCOPED_TRACE(name);
    const std::string path = dir + "/" + name;
    test::write_file(path, content);
    const Dataset data = read_npy(path);
    EXPECT_TRUE(torch::equal(read_data(path).features, data.features));  // told from its magic
    // The file's type is kept (these values are exact in float32 too).
    EXPECT_TRUE(torch::equal(data.features.to(torch::kFloat64), expected));
    EXPECT_EQ(data.features.scalar_type(), name.find('4') != std::string::npos ? torch::kFloat32 : torch::kFloat64);
    // Only the C-order files are read in place, and only those can drop their pages.
    EXPECT_EQ(static_cast<bool>(data.release_rows), name[0] != 'f');
    EXPECT_TRUE(data.features.is_contiguous());
    EXPECT_EQ(data.format, "npy");
    EXPECT_TRUE(data.labels.empty());
    EXPECT_EQ(data.feature_columns, (std::vector<int64_t>{0, 1, 2}));
    EXPECT_EQ(data.sha256, sha256_hex(content));
  }
  // Chosen columns, in the order given; the data outlives nothing it needs (the mapping is kept).
  CsvOptions two;
  two.features = {2, 0};
  const Dataset chosen = read_npy(dir + "/f8.npy", two);
  EXPECT_TRUE(torch::equal(chosen.features, expected.index_select(1, torch::tensor({2, 0}))));
  EXPECT_EQ(chosen.feature_names, (std::vector<std::string>{"column 2", "column 0"}));
  // read_data tells CSV text from a .npy file by its first bytes, not its name.
  test::write_file(dir + "/a.npy", "1,2\n3,4\n");
  EXPECT_EQ(read_data(dir + "/a.npy").format, "csv");
  std::filesystem::copy_file(dir + "/c8.npy", dir + "/c8.csv");
  EXPECT_EQ(read_data(dir + "/c8.csv").format, "npy");
  EXPECT_THROW(read_data(dir), DataError);
}

// A named FIFO is opened once: a writer that opens it, writes and closes is read whole, whether
// its text is CSV or (refused, as it must be mapped) a .npy file. Opening it twice, as a probe
// then a reader, hung whenever the writer had gone between the two.
TEST(Dataset, ReadDataOpensAFifoOnce) {
  const std::string dir = test::temp_dir();
  const std::string fifo = dir + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const auto written = [&](const std::string& content) {
    return std::thread([fifo, content] {
      // O_WRONLY blocks until the reader has opened: the reader opens once, so this returns.
      const int fd = ::open(fifo.c_str(), O_WRONLY);
      if (fd < 0) return;
      [[maybe_unused]] const ssize_t n = ::write(fd, content.data(), content.size());
      ::close(fd);
    });
  };
  for (int i = 0; i < 20; ++i) {
    std::thread writer = written("1,2\n3,4\n5,6\n");
    const Dataset data = read_data(fifo);
    writer.join();
    EXPECT_EQ(data.rows(), 3);
    EXPECT_EQ(data.format, "csv");
  }
  const std::vector<double> six = {1, 2, 3, 4, 5, 6};
  std::thread writer = written(test::npy("<f8", false, "(2, 3)", test::bytes_of(six)));
  try {
    read_data(fifo);
    ADD_FAILURE() << "no error";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("a .npy file from a pipe or device"), std::string::npos) << e.what();
  }
  writer.join();
}

// numpy reads the header with ast.literal_eval and then wants exactly three keys; a header that
// numpy would read differently, or that readers may disagree on, is refused.
TEST(Dataset, ReadsNpyHeadersAsNumpyDoesOrRefusesThem) {
  const std::string dir = test::temp_dir();
  const std::vector<double> six = {1, 2, 3, 4, 5, 6};
  const std::string values = test::bytes_of(six);
  // A raw header dict, padded as numpy pads it (to 64 bytes with the 10 before it, ending "\n").
  const auto with_header = [&](std::string dict) {
    while ((10 + dict.size() + 1) % 64 != 0) dict += ' ';
    dict += '\n';
    std::string file("\x93NUMPY\x01\x00", 8);
    file += static_cast<char>(dict.size() & 0xff);
    file += static_cast<char>(dict.size() >> 8);
    return file + dict + values;
  };
  const auto read = [&](const std::string& name, const std::string& dict) {
    test::write_file(dir + "/" + name, with_header(dict));
    return read_npy(dir + "/" + name);
  };
  // What numpy reads: any key order, either quote, blanks and line breaks, a trailing comma, 3L.
  EXPECT_EQ(read("order.npy", "{'shape': (2, 3), 'fortran_order': False, 'descr': '<f8'}").columns(), 3);
  EXPECT_EQ(read("quotes.npy", "{\"descr\":\"<f8\",\"fortran_order\":False,\"shape\":(2,3,),}").columns(), 3);
  EXPECT_EQ(read("blanks.npy", "{ 'descr' :\t'<f8' ,\r\n'fortran_order' : True , 'shape' : ( 3 , 2L ) }").columns(), 2);
  const auto refused = [&](const std::string& name, const std::string& dict, const std::string& says) {
    SCOPED_TRACE(name);
    try {
      read(name, dict);
      ADD_FAILURE() << "no error";
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
  };
  // numpy takes the last 'shape' ((3, 2)); the first would read the same bytes as 2 x 3.
  refused("twice.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), 'shape': (3, 2)}",
          "gives 'shape' twice");
  refused("twice_order.npy", "{'descr': '<f8', 'fortran_order': True, 'fortran_order': False, 'shape': (2, 3)}",
          "gives 'fortran_order' twice");
  refused("extra.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), 'meta': 'x'}", "the key 'meta'");
  refused("missing.npy", "{'descr': '<f8', 'fortran_order': False}", "no 'shape'");
  refused("in_string.npy", "{'descr': '<f8', 'fortran_order': False, 'x': \"'shape': (2, 3)\"}", "the key 'x'");
  refused("escape.npy", "{'descr': '<f\\x38', 'fortran_order': False, 'shape': (2, 3)}", "escape");
  refused("not_tuple.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (6)}", "not a tuple");
  refused("list.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': [2, 3]}", "not a tuple");
  refused("expression.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 1+2)}", "not a tuple of sizes");
  refused("octal.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (02, 3)}", "not a size");
  refused("bool.npy", "{'descr': '<f8', 'fortran_order': 0, 'shape': (2, 3)}", "True or False");
  refused("trailing.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)} x", "text after");
  refused("structured.npy", "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (2, 3)}", "quoted string");
}

TEST(Dataset, ReadsALargeNpyWithoutCopyingIt) {
  const std::string dir = test::temp_dir();
  std::vector<double> values(3000 * 40);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<double>(i % 977) - 400.0;
  test::write_file(dir + "/big.npy", test::npy("<f8", false, "(3000, 40)", test::bytes_of(values)));
  torch::Tensor features;
  {
    const Dataset data = read_npy(dir + "/big.npy");
    features = data.features;
  }
  // The tensor reads the mapping (no copy into a fresh allocation), and writes stay private.
  EXPECT_EQ(features.size(0), 3000);
  EXPECT_EQ(features[2999][39].item<double>(), values.back());
  features.mul_(2.0);
  EXPECT_EQ(test::read_file(dir + "/big.npy").substr(128), test::bytes_of(values));

  // float32 too; rows whose pages are released read the file's values again (a write to them is
  // dropped with them, as dataset.hpp says).
  const std::vector<float> singles(values.begin(), values.end());
  test::write_file(dir + "/big4.npy", test::npy("<f4", false, "(3000, 40)", test::bytes_of(singles)));
  const Dataset data = read_npy(dir + "/big4.npy");
  ASSERT_EQ(data.features.scalar_type(), torch::kFloat32);
  ASSERT_TRUE(data.release_rows);
  const torch::Tensor before = data.features.clone();
  data.features.narrow(0, 100, 1000).fill_(7.0f);
  data.release_rows(0, 3000);
  EXPECT_TRUE(torch::equal(data.features, before));
  data.release_rows(5, 5);  // nothing
  data.release_rows(2999, 3000);
  EXPECT_EQ(data.features[2999][39].item<float>(), singles.back());
}

TEST(Dataset, RefusesNpyFilesItCannotRead) {
  const std::string dir = test::temp_dir();
  const std::vector<double> six = {1, 2, 3, 4, 5, 6};
  const auto refused = [&](const std::string& name, const std::string& content, const std::string& says,
                           const CsvOptions& options = {}) {
    SCOPED_TRACE(name);
    const std::string path = dir + "/" + name;
    test::write_file(path, content);
    try {
      read_npy(path, options);
      ADD_FAILURE() << "no error";
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "one line";
    }
  };
  refused("empty.npy", "", "empty file");
  refused("csv.npy", "1,2\n", "not a .npy file");
  refused("version9.npy", test::npy("<f8", false, "(2, 3)", test::bytes_of(six)).replace(6, 1, "\x09"), "version 9");
  refused("cut.npy", test::npy("<f8", false, "(2, 3)", test::bytes_of(six)).substr(0, 40), "more than the file holds");
  refused("short.npy", test::npy("<f8", false, "(2, 3)", test::bytes_of(six)).substr(0, 128 + 40), "cut short");
  refused("long.npy", test::npy("<f8", false, "(2, 3)", test::bytes_of(six) + "xxxxxxxx"), "more than one array");
  refused("big_endian.npy", test::npy(">f8", false, "(2, 3)", test::bytes_of(six)), "astype('<f8')");
  refused("ints.npy", test::npy("<i8", false, "(2, 3)", test::bytes_of(six)), "'<i8'");
  refused("object.npy", test::npy("|O", false, "(2, 3)", test::bytes_of(six)), "'|O'");
  refused("vector.npy", test::npy("<f8", false, "(6,)", test::bytes_of(six)), "reshape(-1, 1)");
  refused("cube.npy", test::npy("<f8", false, "(1, 2, 3)", test::bytes_of(six)), "3 dimensions");
  refused("no_rows.npy", test::npy("<f8", false, "(0, 3)", ""), "empty matrix");
  refused("huge.npy", test::npy("<f8", false, "(999999999999999999, 999999999999999999)", test::bytes_of(six)),
          "needs");
  refused("negative.npy", test::npy("<f8", false, "(-2, 3)", test::bytes_of(six)), "not a size");
  const auto edited = [&](const std::string& from, const std::string& to) {
    std::string content = test::npy("<f8", false, "(2, 3)", test::bytes_of(six));
    return content.replace(content.find(from), from.size(), to);
  };
  refused("no_shape.npy", edited("'shape'", "'shapo'"), "the key 'shapo'");
  refused("nul.npy", edited("descr", std::string("de\0cr", 5)), "not a dict");
  refused("order.npy", edited("False", "Maybe"), "True or False");
  const std::vector<double> nan = {1, 2, 3, 4, std::nan(""), 6};
  refused("nan.npy", test::npy("<f8", false, "(2, 3)", test::bytes_of(nan)), "row 1, column 1 (from 0): non-finite");
  const std::vector<float> inf = {1, std::numeric_limits<float>::infinity(), 3, 4, 5, 6};
  refused("inf_f.npy", test::npy("<f4", true, "(2, 3)", test::bytes_of(inf)), "row 1, column 0 (from 0)");
  CsvOptions label;
  label.label = 2;
  test::write_file(dir + "/label.npy", test::npy("<f8", false, "(2, 3)", test::bytes_of(six)));
  try {
    read_npy(dir + "/label.npy", label);
    ADD_FAILURE() << "a label column of a .npy file was not refused";
  } catch (const OptionError& e) {  // an option that cannot apply, not bad data
    EXPECT_EQ(e.option(), "label");
    EXPECT_NE(std::string(e.what()).find("no label column"), std::string::npos) << e.what();
  }
  CsvOptions named;
  named.features = {"sepal"};
  refused("named.npy", test::npy("<f8", false, "(2, 3)", test::bytes_of(six)), "column numbers", named);
  CsvOptions beyond;
  beyond.features = {3};
  refused("beyond.npy", test::npy("<f8", false, "(2, 3)", test::bytes_of(six)), "beyond its 3 columns", beyond);
  CsvOptions rows;
  rows.min_rows = 3;
  refused("few.npy", test::npy("<f8", false, "(2, 3)", test::bytes_of(six)), "2 rows, at least 3", rows);
  EXPECT_THROW(read_npy(dir + "/missing.npy"), DataError);
  EXPECT_THROW(read_npy(dir), DataError);
  EXPECT_THROW(read_npy("/dev/zero"), DataError);
}

// Labels from a file of their own, for .npy data: each kind numpy writes, and what is refused.
TEST(Dataset, LabelsComeFromAFileOfTheirOwn) {
  const std::string dir = temp_dir();
  const auto data = [] {
    CsvOptions no_label;
    no_label.no_label = true;
    return load_embedded_iris(no_label);
  };
  const Dataset iris = load_embedded_iris();
  std::vector<int64_t> codes;
  for (const std::string& name : iris.labels)
    codes.push_back(name == "Iris-setosa" ? 0 : name == "Iris-versicolor" ? 1 : 2);
  std::vector<std::string> expected;
  for (const int64_t c : codes) expected.push_back(std::to_string(c));
  std::vector<uint8_t> bytes(codes.begin(), codes.end());
  std::vector<double> reals(codes.begin(), codes.end());
  std::vector<int32_t> ints(codes.begin(), codes.end());
  const std::vector<std::pair<std::string, std::string>> kinds = {
      {"i8.npy", test::npy("<i8", false, "(150,)", test::bytes_of(codes))},
      {"u1.npy", test::npy("|u1", false, "(150, 1)", test::bytes_of(bytes))},
      {"i4.npy", test::npy("<i4", true, "(150,)", test::bytes_of(ints))},
      {"f8.npy", test::npy("<f8", false, "(150,)", test::bytes_of(reals))}};
  for (const auto& [name, bytes_of_file] : kinds) {
    write_file(dir + "/" + name, bytes_of_file);
    Dataset d = data();
    read_labels(d, dir + "/" + name);
    EXPECT_EQ(d.labels, expected) << name;
    EXPECT_EQ(d.labels_source, dir + "/" + name);
    EXPECT_EQ(d.labels_sha256.size(), 64u);
    EXPECT_FALSE(d.label_column.has_value());
  }
  // A CSV: names under a header, whole numbers without one, or the column named.
  std::string names = "species\n", numbers, table = "id,class\n";
  for (std::size_t r = 0; r < iris.labels.size(); ++r) {
    names += iris.labels[r] + "\n";
    numbers += expected[r] + "\n";
    table += std::to_string(r) + "," + expected[r] + "\n";
  }
  write_file(dir + "/names.csv", names);
  write_file(dir + "/numbers.csv", numbers);
  write_file(dir + "/table.csv", table);
  Dataset d = data();
  read_labels(d, dir + "/names.csv");
  EXPECT_EQ(d.labels, iris.labels);
  d = data();
  read_labels(d, dir + "/numbers.csv");
  EXPECT_EQ(d.labels, expected);
  d = data();
  read_labels(d, dir + "/table.csv", ColumnRef("class"));
  EXPECT_EQ(d.labels, expected);

  const auto refused = [&](const std::string& name, const std::string& bytes_of_file, const std::string& says) {
    write_file(dir + "/" + name, bytes_of_file);
    Dataset bad = data();
    try {
      read_labels(bad, dir + "/" + name);
      ADD_FAILURE() << name << " was read";
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << name << ": " << e.what();
    }
    EXPECT_TRUE(bad.labels.empty()) << name;
  };
  refused("short.npy", test::npy("<i8", false, "(100,)", test::bytes_of(std::vector<int64_t>(100, 1))),
          "holds 100 labels, and embedded:iris.data 150 rows");
  refused("half.npy", test::npy("<f8", false, "(150,)", test::bytes_of(std::vector<double>(150, 0.5))),
          "not a whole number");
  refused("nan.npy", test::npy("<f4", false, "(150,)", test::bytes_of(std::vector<float>(150, std::nanf("")))),
          "not a whole number");
  refused("wide.npy", test::npy("<i8", false, "(75, 2)", test::bytes_of(std::vector<int64_t>(150, 1))),
          "one dimension");
  refused("text.npy", test::npy("<U5", false, "(150,)", std::string(150 * 20, 'a')), "labels of type '<U5'");
  refused("big.npy", test::npy(">i8", false, "(150,)", test::bytes_of(codes)), "little-endian");
  refused("cut.npy", test::npy("<i8", false, "(150,)", test::bytes_of(codes).substr(0, 600)), "holds 150 labels");
  refused("fraction.csv", "0.5\n" + numbers.substr(2), "not a whole number");
  refused("empty.csv", "", "empty");
  // Data with labels of its own keeps them: one source of labels.
  Dataset own = iris;
  EXPECT_THROW(read_labels(own, dir + "/i8.npy"), DataError);
  EXPECT_EQ(own.labels, iris.labels);
}

}  // namespace
}  // namespace labrun
