// join_shards(): the shards of a model read as one; select_tensors(): some of a model's tensors. Each shard is a ModelSource of its own (its file
// mapped and checked by its reader); this one lists their tensors in shard order and passes every
// call on to the shard that holds the tensor.

#include "model/source.hpp"

#include <qlinear/error.hpp>

#include <map>
#include <utility>

namespace qlinear::model {
namespace {

class ShardedSource final : public ModelSource {
 public:
  ShardedSource(std::vector<std::unique_ptr<ModelSource>> shards, std::vector<std::filesystem::path> paths)
      : shards_(std::move(shards)), paths_(std::move(paths)) {
    if (shards_.empty() || shards_.size() != paths_.size()) {
      throw Error(ErrorCode::internal, "join_shards: " + std::to_string(shards_.size()) + " shards, " +
                                           std::to_string(paths_.size()) + " paths");
    }
    std::map<std::string_view, std::size_t> owner;  // tensor → shard; views into the shards' tensors
    for (std::size_t s = 0; s < shards_.size(); ++s) {
      const auto& tensors = shards_[s]->tensors();
      for (std::size_t i = 0; i < tensors.size(); ++i) {
        const auto [it, inserted] = owner.emplace(tensors[i].name, s);
        if (!inserted) {
          throw Error(ErrorCode::malformed_file,
                      paths_[s].string() + ": tensor '" + tensors[i].name + "' is also in " +
                          paths_[it->second].string() + ": two shards of one model hold it");
        }
        tensors_.push_back(tensors[i]);
        where_.push_back({s, i});
      }
    }
  }

  const std::vector<SourceTensor>& tensors() const override { return tensors_; }
  FloatValues read_floats(std::size_t index) const override { return shard(index).read_floats(local(index)); }
  std::span<const std::byte> raw_bytes(std::size_t index) const override {
    return shard(index).raw_bytes(local(index));
  }
  QuantizedTensor read_affine(std::size_t index) const override { return shard(index).read_affine(local(index)); }
  void release(std::size_t index) const override { shard(index).release(local(index)); }

  const GgufFile* gguf() const noexcept override { return shards_[0]->gguf(); }
  const SafetensorsFile* safetensors() const noexcept override { return shards_[0]->safetensors(); }
  std::vector<std::filesystem::path> shard_paths() const override { return paths_; }
  std::size_t shard_of(std::size_t index) const override { return where_.at(index).first; }

 private:
  const ModelSource& shard(std::size_t index) const { return *shards_[where_.at(index).first]; }
  std::size_t local(std::size_t index) const { return where_[index].second; }

  std::vector<std::unique_ptr<ModelSource>> shards_;
  std::vector<std::filesystem::path> paths_;
  std::vector<SourceTensor> tensors_;
  std::vector<std::pair<std::size_t, std::size_t>> where_;  // shard, index in the shard
};

class SelectedSource final : public ModelSource {
 public:
  SelectedSource(const ModelSource& parent, std::vector<std::size_t> indices)
      : parent_(parent), indices_(std::move(indices)) {
    for (const std::size_t i : indices_) tensors_.push_back(parent_.tensors().at(i));
  }
  const std::vector<SourceTensor>& tensors() const override { return tensors_; }
  FloatValues read_floats(std::size_t index) const override { return parent_.read_floats(indices_[index]); }
  std::span<const std::byte> raw_bytes(std::size_t index) const override { return parent_.raw_bytes(indices_[index]); }
  QuantizedTensor read_affine(std::size_t index) const override { return parent_.read_affine(indices_[index]); }
  void release(std::size_t index) const override { parent_.release(indices_[index]); }
  const GgufFile* gguf() const noexcept override { return parent_.gguf(); }
  const SafetensorsFile* safetensors() const noexcept override { return parent_.safetensors(); }

 private:
  const ModelSource& parent_;
  std::vector<std::size_t> indices_;
  std::vector<SourceTensor> tensors_;
};

}  // namespace

std::unique_ptr<ModelSource> select_tensors(const ModelSource& parent, std::vector<std::size_t> indices) {
  return std::make_unique<SelectedSource>(parent, std::move(indices));
}

std::unique_ptr<ModelSource> join_shards(std::vector<std::unique_ptr<ModelSource>> shards,
                                         std::vector<std::filesystem::path> paths) {
  return std::make_unique<ShardedSource>(std::move(shards), std::move(paths));
}

}  // namespace qlinear::model
