/* What the shared library exports. It is built with hidden visibility (-fvisibility=hidden,
 * -fvisibility-inlines-hidden), so only declarations marked QLINEAR_API — the C API of
 * <qlinear/qlinear.h> and the C++ API of <qlinear/...hpp> — enter its dynamic symbol table; the
 * internals of src/ stay private to it (tests/check_exports.cmake checks the built library).
 * Valid C and C++. */
#ifndef QLINEAR_EXPORT_H
#define QLINEAR_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define QLINEAR_API __attribute__((visibility("default")))
#else
#define QLINEAR_API
#endif

#endif /* QLINEAR_EXPORT_H */
