#include "data/heap_table.h"

#include <arrow/ipc/api.h>
#include <arrow/util/base64.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "common/file_util.h"
#include "common/ids.h"
#include "common/test_util.h"
#include "data/object_store.h"

namespace sluice {
namespace {

// A heap table as a worker writes it: one int64 column of `rows` values 0, 1, 2, ... in a
// memory file (the heap), described in the object file at `path`.
class HeapTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = "/tmp/sluice-heap-test-" + NewShortId(8);
    ASSERT_OK_AND_ASSIGN(store_, ObjectStore::Open(root_));
    path_ = root_ + "/out.arrow";
  }
  void TearDown() override { ASSERT_OK(RemoveAll(root_)); }

  OwnedFd Heap(int64_t rows) {
    OwnedFd heap(::memfd_create("sluice-heap", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    EXPECT_EQ(::ftruncate(heap.get(), int64_t{1} << 30), 0);  // reserved, as a worker does
    std::vector<int64_t> values(static_cast<size_t>(rows));
    for (int64_t i = 0; i < rows; ++i) values[static_cast<size_t>(i)] = i;
    EXPECT_EQ(::pwrite(heap.get(), values.data(), values.size() * 8, 4096), static_cast<ssize_t>(values.size() * 8));
    return heap;
  }

  void Describe(int64_t rows, const std::string& buffer_ref) {
    auto schema = arrow::schema({arrow::field("v", arrow::int64(), /*nullable=*/false)});
    auto serialized = *arrow::ipc::SerializeSchema(*schema);
    std::string json = R"({"schema":")" + arrow::util::base64_encode(serialized->ToString()) +
                       R"(","batches":[{"rows":)" + std::to_string(rows) + R"(,"columns":[[)" + std::to_string(rows) +
                       ",0,0,[null," + buffer_ref + "],[],null]]}]}";
    std::string text = "SLUICE-HEAP-TABLE\n";
    uint64_t length = json.size();
    text.append(reinterpret_cast<const char*>(&length), 8);
    text += json;
    ASSERT_OK(WriteFileAtomic(path_, text));
  }

  std::string root_, path_;
  std::unique_ptr<ObjectStore> store_;
};

TEST_F(HeapTableTest, AnAdoptedTableIsMappedInPlaceAndTheHeapSealed) {
  OwnedFd heap = Heap(1000);
  int engine_copy = ::dup(heap.get());
  Describe(1000, "[1,4096,8000]");
  int64_t shared = 0;
  ASSERT_OK(store_->AdoptHeapTable(path_, std::move(heap), {}, {}, &shared));
  EXPECT_EQ(shared, 8000);
  ASSERT_OK_AND_ASSIGN(auto table, store_->Get(path_));
  ASSERT_EQ(table->num_rows(), 1000);
  auto values = std::static_pointer_cast<arrow::Int64Array>(table->column(0)->chunk(0));
  EXPECT_EQ(values->Value(999), 999);
  // Cut to the pages the table uses, and nobody can write it any more.
  struct stat info;
  ASSERT_EQ(::fstat(engine_copy, &info), 0);
  EXPECT_EQ(info.st_size, 4096 + 8192);
  EXPECT_EQ(::pwrite(engine_copy, "x", 1, 4096), -1);
  EXPECT_EQ(::mmap(nullptr, 4096, PROT_WRITE, MAP_SHARED, engine_copy, 0), MAP_FAILED);
  ::close(engine_copy);
  ASSERT_OK(store_->Release(path_));
  EXPECT_FALSE(store_->HeapTableOf(path_).has_value());
}

TEST_F(HeapTableTest, MemoryStillMappedWritableIsRefused) {
  OwnedFd heap = Heap(1000);
  void* writable = ::mmap(nullptr, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, heap.get(), 0);
  ASSERT_NE(writable, MAP_FAILED);
  Describe(1000, "[1,4096,8000]");
  int64_t shared = 0;
  Status adopted = store_->AdoptHeapTable(path_, std::move(heap), {}, {}, &shared);
  EXPECT_NE(adopted.message().find("still writable by a process the model left running"), std::string::npos)
      << adopted.ToString();
  EXPECT_FALSE(store_->HeapTableOf(path_).has_value());
  ::munmap(writable, 1 << 20);
}

TEST_F(HeapTableTest, BuffersOutsideTheirMemoryOrTooSmallAreRefused) {
  struct Case {
    int64_t rows;
    std::string ref;
    std::string why;
  };
  for (const Case& c : {Case{1000, "[1,4096,8000000000000]", "ends"}, Case{1000, "[1,-8,8000]", "outside"},
                        Case{1000, "[7,0,8000]", "segment"}, Case{1000, "[1,1099511627776,8000]", "ends"},
                        Case{100000, "[1,4096,8000]", "too small"}, Case{1000, "[2,0,8000]", "input segment"}}) {
    Describe(c.rows, c.ref);
    int64_t shared = 0;
    Status adopted = store_->AdoptHeapTable(path_, Heap(1000), {}, {}, &shared);
    EXPECT_FALSE(adopted.ok()) << c.ref;
    EXPECT_NE(adopted.message().find(c.why), std::string::npos) << c.ref << ": " << adopted.ToString();
    EXPECT_FALSE(store_->HeapTableOf(path_).has_value());
  }
}

TEST_F(HeapTableTest, AnIpcFileIsLeftAsItIs) {
  auto table = arrow::Table::Make(arrow::schema({arrow::field("v", arrow::int64())}),
                                  {*arrow::MakeArrayOfNull(arrow::int64(), 3)});
  ASSERT_OK_AND_ASSIGN(std::string path, store_->Put("plain.arrow", *table));
  int64_t shared = -1;
  ASSERT_OK(store_->AdoptHeapTable(path, Heap(10), {}, {}, &shared));
  EXPECT_EQ(shared, 0);
  EXPECT_FALSE(store_->HeapTableOf(path).has_value());
  ASSERT_OK_AND_ASSIGN(auto back, store_->Get(path));
  EXPECT_EQ(back->num_rows(), 3);
}

}  // namespace
}  // namespace sluice
