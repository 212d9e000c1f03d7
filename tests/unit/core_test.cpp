#include <cstring>

#include "test_util.h"
#include "weightbridge/dtype.h"
#include "weightbridge/error.h"
#include "weightbridge/tensor.h"

using namespace wb;

TEST(Tensor, PermuteMatchesNumpyDefinition) {
  // in shape (2,3,4) holding 0..23; out = transpose(in, (2,0,1)) -> shape (4,2,3)
  std::vector<float> v(24);
  for (int i = 0; i < 24; ++i) v[static_cast<size_t>(i)] = static_cast<float>(i);
  Tensor t = permuted(make_f32("x", {2, 3, 4}, v), {2, 0, 1});
  ASSERT_EQ(t.shape, (Shape{4, 2, 3}));
  auto out = to_f32(t.load(), DType::F32);
  // out[k,i,j] = in[i,j,k] = i*12 + j*4 + k
  for (int k = 0; k < 4; ++k)
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 3; ++j)
        EXPECT_EQ(out[static_cast<size_t>(k * 6 + i * 3 + j)], static_cast<float>(i * 12 + j * 4 + k));
}

TEST(Tensor, ShapeOverflowIsMalformed) {
  try {
    checked_nbytes({int64_t{1} << 40, int64_t{1} << 40}, DType::F32);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Malformed);
  }
}

TEST(DType, HalfConversionsAreExactOnKnownValues) {
  // Hand-derived IEEE binary16 bit patterns.
  EXPECT_EQ(float_to_half(1.0f), 0x3C00);
  EXPECT_EQ(float_to_half(65504.0f), 0x7BFF);
  EXPECT_EQ(float_to_half(70000.0f), 0x7C00);  // overflow -> inf
  EXPECT_EQ(float_to_half(0.00006103515625f), 0x0400);  // smallest normal
  EXPECT_EQ(float_to_half(5.960464477539063e-08f), 0x0001);  // smallest subnormal
  EXPECT_EQ(float_to_half(1e-8f), 0x0000);  // underflow -> 0
  EXPECT_EQ(float_to_half(-2.0f), 0xC000);
  EXPECT_EQ(half_to_float(0x3C00), 1.0f);
  EXPECT_EQ(half_to_float(0x0001), 5.960464477539063e-08f);
  EXPECT_EQ(half_to_float(0x7BFF), 65504.0f);
}

TEST(DType, Bfloat16DecodesUpperBits) {
  // failure case BR-22: bits 0x3F80, 0x4049, 0xC000 -> 1.0, 3.140625, -2.0
  EXPECT_EQ(bf16_to_float(0x3F80), 1.0f);
  EXPECT_EQ(bf16_to_float(0x4049), 3.140625f);
  EXPECT_EQ(bf16_to_float(0xC000), -2.0f);
}

TEST(Sha256, KnownDigest) {
  const char* abc = "abc";
  EXPECT_EQ(sha256_hex(reinterpret_cast<const uint8_t*>(abc), 3),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Tensor, TransposeOfOddSizesMatchesDefinition) {
  // (70, 130) uint16 with value r*200+c -> out[c, r] = in[r, c]; sizes cross the 64-element tiles
  const int64_t rows = 70, cols = 130;
  Bytes b(static_cast<size_t>(rows * cols * 2));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const auto v = static_cast<uint16_t>(r * 200 + c);
      std::memcpy(b.data() + (r * cols + c) * 2, &v, 2);
    }
  const Bytes out = permute_bytes(b, {rows, cols}, 2, {1, 0});
  for (int64_t c = 0; c < cols; ++c)
    for (int64_t r = 0; r < rows; ++r) {
      uint16_t v;
      std::memcpy(&v, out.data() + (c * rows + r) * 2, 2);
      ASSERT_EQ(v, r * 200 + c);
    }
}

TEST(Tensor, ConvKernelPermutationOihwToHwio) {
  // MXNet (O, I, H, W) -> Keras (H, W, I, O) is perm (2, 3, 1, 0): new[h,w,i,o] = old[o,i,h,w]
  const Shape s = {3, 2, 4, 5};
  std::vector<float> v(120);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  auto out = to_f32(permuted(make_f32("k", s, v), {2, 3, 1, 0}).load(), DType::F32);
  for (int o = 0; o < 3; ++o)
    for (int i = 0; i < 2; ++i)
      for (int h = 0; h < 4; ++h)
        for (int w = 0; w < 5; ++w)
          ASSERT_EQ(out[static_cast<size_t>(((h * 5 + w) * 2 + i) * 3 + o)], static_cast<float>(((o * 2 + i) * 4 + h) * 5 + w));
}
