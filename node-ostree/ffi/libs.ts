import type * as KoffiModule from 'koffi';
import { loadKoffi } from './load-koffi.js';

/**
 * The C side of node-ostree: libostree, GLib/GObject/GIO and libarchive, loaded with koffi.
 * Every GObject and GLib pointer is an opaque `void *` here; the typed wrappers in the other
 * files own them and release them. This is the only place (with its siblings in ffi/) that
 * touches FFI (docs/conventions.md, "One door per kind").
 *
 * Nothing is loaded when a module imports this file: koffi and the C libraries are loaded on
 * the first use of `C` or `koffi`, so that a host without libostree (a fleet server, a dashboard)
 * can import the lock and manifest API of the package, which reaches node-ostree's modules
 * through the build's.
 *
 * Functions that may block (commit, checkout, pull, deploy ...) are called through `.async`
 * from the wrappers, which runs them on koffi's worker threads so the event loop stays free.
 */
export type Ptr = unknown;

type Koffi = typeof KoffiModule;
type LibraryHandle = ReturnType<Koffi['load']>;

/** AT_FDCWD: paths relative to the process's working directory. */
export const AT_FDCWD = -100;

export const RepoMode = { bare: 0, archive: 1, 'bare-user': 2, 'bare-user-only': 3, 'bare-split-xattrs': 4 } as const;
export const ObjectType = { file: 1, dirTree: 2, dirMeta: 3, commit: 4, commitMeta: 6 } as const;

/**
 * The struct and prototype types other files name, by their C names: koffi accepts a declared
 * type's name wherever it takes a type, and they are declared by the time anything can call.
 */
export const GError = 'GError';
/** OstreeRepoCommitFilter: called for each file while committing; 0 = allow, 1 = skip. */
export const CommitFilter = 'OstreeRepoCommitFilter';
export const GPtrArrayStruct = 'GPtrArray';

interface Libraries {
  ostree: LibraryHandle;
  glib: LibraryHandle;
  gobject: LibraryHandle;
  gio: LibraryHandle;
  archive: LibraryHandle;
}

function loadLibraries(koffi: Koffi): Libraries {
  return {
    ostree: koffi.load('libostree-1.so.1'),
    glib: koffi.load('libglib-2.0.so.0'),
    gobject: koffi.load('libgobject-2.0.so.0'),
    gio: koffi.load('libgio-2.0.so.0'),
    archive: koffi.load('libarchive.so.13'),
  };
}

/** Declares, by name, the structs and the prototype that the function signatures below use. */
function declareTypes(koffi: Koffi): void {
  koffi.struct('GError', { domain: 'uint32', code: 'int', message: 'char *' });

  koffi.struct('OstreeRepoCheckoutAtOptions', {
    mode: 'int',
    overwrite_mode: 'int',
    enable_uncompressed_cache: 'int',
    enable_fsync: 'int',
    process_whiteouts: 'int',
    no_copy_fallback: 'int',
    force_copy: 'int',
    bareuseronly_dirs: 'int',
    force_copy_zerosized: 'int',
    process_passthrough_whiteouts: 'int',
    unused_bools: koffi.array('int', 3),
    subpath: 'const char *',
    devino_to_csum_cache: 'void *',
    unused_ints: koffi.array('int', 6),
    unused_ptrs: koffi.array('void *', 3),
    filter: 'void *',
    filter_user_data: 'void *',
    sepolicy: 'void *',
    sepolicy_prefix: 'const char *',
  });

  /** The bitfield word first: bit 0 ignore_unsupported_content, 1 autocreate_parents, 2 use_ostree_convention. */
  koffi.struct('OstreeRepoImportArchiveOptions', {
    flags: 'uint32',
    unused_uint: koffi.array('uint32', 8),
    translate_pathname: 'void *',
    translate_pathname_user_data: 'void *',
    unused_ptrs: koffi.array('void *', 6),
  });

  koffi.struct('OstreeRepoTransactionStats', {
    metadata_objects_total: 'uint32',
    metadata_objects_written: 'uint32',
    content_objects_total: 'uint32',
    content_objects_written: 'uint32',
    content_bytes_written: 'uint64',
    devino_cache_hits: 'uint32',
    padding1: 'uint32',
    padding2: 'uint64',
    padding3: 'uint64',
    padding4: 'uint64',
  });

  koffi.struct('OstreeSysrootDeployTreeOpts', {
    unused_bools: koffi.array('int', 8),
    unused_ints: koffi.array('int', 8),
    override_kernel_argv: 'const char **',
    overlay_initrds: 'const char **',
    unused_ptrs: koffi.array('void *', 6),
  });

  /** OstreeRepoCommitFilter: called for each file while committing; 0 = allow, 1 = skip. */
  koffi.proto('int OstreeRepoCommitFilter(void *repo, const char *path, void *file_info, void *user_data)');

  koffi.struct('GPtrArray', { pdata: 'void *', len: 'uint32' });
}

const f = (lib: LibraryHandle, proto: string) => lib.func(proto);

function glibFunctions({ glib, gobject, gio }: Libraries) {
  return {
    // GLib memory and errors
    g_free: f(glib, 'void g_free(void *mem)'),
    g_error_free: f(glib, 'void g_error_free(void *error)'),
    g_quark_to_string: f(glib, 'const char *g_quark_to_string(uint32 quark)'),
    g_strfreev: f(glib, 'void g_strfreev(void *strv)'),
    // GVariant and GBytes
    g_variant_get_data: f(glib, 'const void *g_variant_get_data(void *value)'),
    g_variant_get_size: f(glib, 'size_t g_variant_get_size(void *value)'),
    g_variant_get_type_string: f(glib, 'const char *g_variant_get_type_string(void *value)'),
    g_variant_unref: f(glib, 'void g_variant_unref(void *value)'),
    g_variant_ref_sink: f(glib, 'void *g_variant_ref_sink(void *value)'),
    g_variant_type_new: f(glib, 'void *g_variant_type_new(const char *type_string)'),
    g_variant_type_free: f(glib, 'void g_variant_type_free(void *type)'),
    g_variant_new_from_bytes: f(glib, 'void *g_variant_new_from_bytes(void *type, void *bytes, int trusted)'),
    g_bytes_new: f(glib, 'void *g_bytes_new(const void *data, size_t size)'),
    g_bytes_unref: f(glib, 'void g_bytes_unref(void *bytes)'),
    // GHashTable, GPtrArray, GKeyFile
    g_hash_table_get_keys_as_array: f(glib, 'void **g_hash_table_get_keys_as_array(void *table, _Out_ uint32 *length)'),
    g_hash_table_lookup: f(glib, 'void *g_hash_table_lookup(void *table, const void *key)'),
    g_hash_table_unref: f(glib, 'void g_hash_table_unref(void *table)'),
    g_ptr_array_new: f(glib, 'void *g_ptr_array_new()'),
    g_ptr_array_add: f(glib, 'void g_ptr_array_add(void *array, void *data)'),
    g_ptr_array_unref: f(glib, 'void g_ptr_array_unref(void *array)'),
    g_key_file_new: f(glib, 'void *g_key_file_new()'),
    g_key_file_load_from_data: f(glib, 'int g_key_file_load_from_data(void *kf, const char *data, size_t length, int flags, _Out_ void **error)'),
    g_key_file_to_data: f(glib, 'void *g_key_file_to_data(void *kf, _Out_ size_t *length, _Out_ void **error)'),
    g_key_file_unref: f(glib, 'void g_key_file_unref(void *kf)'),
    // GObject
    g_object_unref: f(gobject, 'void g_object_unref(void *object)'),
    g_object_ref: f(gobject, 'void *g_object_ref(void *object)'),
    // GIO
    g_file_new_for_path: f(gio, 'void *g_file_new_for_path(const char *path)'),
    g_cancellable_new: f(gio, 'void *g_cancellable_new()'),
    g_cancellable_cancel: f(gio, 'void g_cancellable_cancel(void *cancellable)'),
    g_input_stream_read_all: f(gio, 'int g_input_stream_read_all(void *stream, void *buffer, size_t count, _Out_ size_t *bytes_read, void *cancellable, _Out_ void **error)'),
    g_file_info_get_size: f(gio, 'int64 g_file_info_get_size(void *info)'),
    g_file_info_set_attribute_uint32: f(gio, 'void g_file_info_set_attribute_uint32(void *info, const char *attribute, uint32 value)'),
    g_file_info_get_attribute_uint32: f(gio, 'uint32 g_file_info_get_attribute_uint32(void *info, const char *attribute)'),
    g_file_info_get_symlink_target: f(gio, 'const char *g_file_info_get_symlink_target(void *info)'),
    g_file_info_get_file_type: f(gio, 'int g_file_info_get_file_type(void *info)'),

  };
}

function ostreeFunctions({ ostree, archive }: Libraries) {
  return {
    // Repositories
    ostree_repo_create_at: f(ostree, 'void *ostree_repo_create_at(int dfd, const char *path, int mode, void *options, void *cancellable, _Out_ void **error)'),
    ostree_repo_open_at: f(ostree, 'void *ostree_repo_open_at(int dfd, const char *path, void *cancellable, _Out_ void **error)'),
    ostree_repo_get_mode: f(ostree, 'int ostree_repo_get_mode(void *repo)'),
    ostree_repo_set_disable_fsync: f(ostree, 'void ostree_repo_set_disable_fsync(void *repo, int disable)'),
    ostree_repo_resolve_rev: f(ostree, 'int ostree_repo_resolve_rev(void *repo, const char *refspec, int allow_noent, _Out_ void **out_rev, _Out_ void **error)'),
    ostree_repo_list_refs_ext: f(ostree, 'int ostree_repo_list_refs_ext(void *repo, const char *prefix, _Out_ void **out_all_refs, int flags, void *cancellable, _Out_ void **error)'),
    ostree_repo_set_ref_immediate: f(ostree, 'int ostree_repo_set_ref_immediate(void *repo, const char *remote, const char *ref, const char *checksum, void *cancellable, _Out_ void **error)'),
    ostree_repo_load_variant: f(ostree, 'int ostree_repo_load_variant(void *repo, int objtype, const char *sha256, _Out_ void **out_variant, _Out_ void **error)'),
    ostree_repo_has_object: f(ostree, 'int ostree_repo_has_object(void *repo, int objtype, const char *checksum, _Out_ int *out_have, void *cancellable, _Out_ void **error)'),
    ostree_repo_read_commit_detached_metadata: f(ostree, 'int ostree_repo_read_commit_detached_metadata(void *repo, const char *checksum, _Out_ void **out_metadata, void *cancellable, _Out_ void **error)'),
    ostree_repo_write_commit_detached_metadata: f(ostree, 'int ostree_repo_write_commit_detached_metadata(void *repo, const char *checksum, void *metadata, void *cancellable, _Out_ void **error)'),
    ostree_repo_load_file: f(ostree, 'int ostree_repo_load_file(void *repo, const char *checksum, _Out_ void **out_input, _Out_ void **out_file_info, _Out_ void **out_xattrs, void *cancellable, _Out_ void **error)'),
    ostree_repo_read_commit: f(ostree, 'int ostree_repo_read_commit(void *repo, const char *ref, _Out_ void **out_root, _Out_ void **out_commit, void *cancellable, _Out_ void **error)'),

    // Writing
    ostree_repo_prepare_transaction: f(ostree, 'int ostree_repo_prepare_transaction(void *repo, _Out_ int *out_resume, void *cancellable, _Out_ void **error)'),
    ostree_repo_commit_transaction: f(ostree, 'int ostree_repo_commit_transaction(void *repo, _Out_ OstreeRepoTransactionStats *out_stats, void *cancellable, _Out_ void **error)'),
    ostree_repo_abort_transaction: f(ostree, 'int ostree_repo_abort_transaction(void *repo, void *cancellable, _Out_ void **error)'),
    ostree_repo_transaction_set_ref: f(ostree, 'void ostree_repo_transaction_set_ref(void *repo, const char *remote, const char *ref, const char *checksum)'),
    ostree_mutable_tree_new: f(ostree, 'void *ostree_mutable_tree_new()'),
    ostree_mutable_tree_new_from_checksum: f(ostree, 'void *ostree_mutable_tree_new_from_checksum(void *repo, const char *contents_checksum, const char *metadata_checksum)'),
    ostree_repo_write_metadata: f(ostree, 'int ostree_repo_write_metadata(void *repo, int objtype, const char *expected_checksum, void *object, _Out_ void **out_csum, void *cancellable, _Out_ void **error)'),
    ostree_repo_commit_modifier_new: f(ostree, 'void *ostree_repo_commit_modifier_new(int flags, OstreeRepoCommitFilter *filter, void *user_data, void *destroy)'),
    ostree_repo_commit_modifier_unref: f(ostree, 'void ostree_repo_commit_modifier_unref(void *modifier)'),
    ostree_repo_commit_modifier_set_devino_cache: f(ostree, 'void ostree_repo_commit_modifier_set_devino_cache(void *modifier, void *cache)'),
    ostree_repo_devino_cache_new: f(ostree, 'void *ostree_repo_devino_cache_new()'),
    ostree_repo_devino_cache_unref: f(ostree, 'void ostree_repo_devino_cache_unref(void *cache)'),
    ostree_repo_write_dfd_to_mtree: f(ostree, 'int ostree_repo_write_dfd_to_mtree(void *repo, int dfd, const char *path, void *mtree, void *modifier, void *cancellable, _Out_ void **error)'),
    ostree_repo_write_directory_to_mtree: f(ostree, 'int ostree_repo_write_directory_to_mtree(void *repo, void *dir, void *mtree, void *modifier, void *cancellable, _Out_ void **error)'),
    ostree_repo_import_archive_to_mtree: f(ostree, 'int ostree_repo_import_archive_to_mtree(void *repo, OstreeRepoImportArchiveOptions *opts, void *archive, void *mtree, void *modifier, void *cancellable, _Out_ void **error)'),
    ostree_repo_write_mtree: f(ostree, 'int ostree_repo_write_mtree(void *repo, void *mtree, _Out_ void **out_file, void *cancellable, _Out_ void **error)'),
    ostree_repo_write_commit_with_time: f(ostree, 'int ostree_repo_write_commit_with_time(void *repo, const char *parent, const char *subject, const char *body, void *metadata, void *root, uint64 time, _Out_ void **out_commit, void *cancellable, _Out_ void **error)'),

    // Reading out
    ostree_repo_checkout_at: f(ostree, 'int ostree_repo_checkout_at(void *repo, OstreeRepoCheckoutAtOptions *options, int dfd, const char *destination, const char *commit, void *cancellable, _Out_ void **error)'),
    ostree_repo_checkout_at_options_set_devino: f(ostree, 'void ostree_repo_checkout_at_options_set_devino(_Inout_ OstreeRepoCheckoutAtOptions *opts, void *cache)'),

    // libarchive
    archive_read_new: f(archive, 'void *archive_read_new()'),
    archive_read_support_filter_all: f(archive, 'int archive_read_support_filter_all(void *a)'),
    archive_read_support_format_tar: f(archive, 'int archive_read_support_format_tar(void *a)'),
    archive_read_support_format_gnutar: f(archive, 'int archive_read_support_format_gnutar(void *a)'),
    archive_read_open_memory: f(archive, 'int archive_read_open_memory(void *a, const void *buf, size_t size)'),
    archive_read_free: f(archive, 'int archive_read_free(void *a)'),
    archive_error_string: f(archive, 'const char *archive_error_string(void *a)'),
  };
}

/** Traversal and sysroots. */
function sysrootFunctions({ ostree }: Libraries) {
  return {
    ostree_repo_fsck_object: f(ostree, 'int ostree_repo_fsck_object(void *repo, int objtype, const char *sha256, void *cancellable, _Out_ void **error)'),
    ostree_repo_traverse_commit: f(ostree, 'int ostree_repo_traverse_commit(void *repo, const char *commit, int maxdepth, _Out_ void **out_reachable, void *cancellable, _Out_ void **error)'),
    ostree_object_name_deserialize: f(ostree, 'void ostree_object_name_deserialize(void *variant, _Out_ const char **out_checksum, _Out_ int *out_objtype)'),

    // Sysroots and deployments
    ostree_sysroot_new: f(ostree, 'void *ostree_sysroot_new(void *path)'),
    ostree_sysroot_ensure_initialized: f(ostree, 'int ostree_sysroot_ensure_initialized(void *sysroot, void *cancellable, _Out_ void **error)'),
    ostree_sysroot_init_osname: f(ostree, 'int ostree_sysroot_init_osname(void *sysroot, const char *osname, void *cancellable, _Out_ void **error)'),
    ostree_sysroot_load: f(ostree, 'int ostree_sysroot_load(void *sysroot, void *cancellable, _Out_ void **error)'),
    ostree_sysroot_lock: f(ostree, 'int ostree_sysroot_lock(void *sysroot, _Out_ void **error)'),
    ostree_sysroot_unlock: f(ostree, 'void ostree_sysroot_unlock(void *sysroot)'),
    ostree_sysroot_get_deployments: f(ostree, 'void *ostree_sysroot_get_deployments(void *sysroot)'),
    ostree_sysroot_get_booted_deployment: f(ostree, 'void *ostree_sysroot_get_booted_deployment(void *sysroot)'),
    ostree_sysroot_get_staged_deployment: f(ostree, 'void *ostree_sysroot_get_staged_deployment(void *sysroot)'),
    ostree_sysroot_query_deployments_for: f(ostree, 'void ostree_sysroot_query_deployments_for(void *sysroot, const char *osname, _Out_ void **out_pending, _Out_ void **out_rollback)'),
    ostree_sysroot_get_merge_deployment: f(ostree, 'void *ostree_sysroot_get_merge_deployment(void *sysroot, const char *osname)'),
    ostree_sysroot_get_deployment_dirpath: f(ostree, 'void *ostree_sysroot_get_deployment_dirpath(void *sysroot, void *deployment)'),
    ostree_sysroot_origin_new_from_refspec: f(ostree, 'void *ostree_sysroot_origin_new_from_refspec(void *sysroot, const char *refspec)'),
    ostree_sysroot_deploy_tree_with_options: f(ostree, 'int ostree_sysroot_deploy_tree_with_options(void *sysroot, const char *osname, const char *revision, void *origin, void *merge, OstreeSysrootDeployTreeOpts *opts, _Out_ void **out_new, void *cancellable, _Out_ void **error)'),
    ostree_sysroot_stage_tree_with_options: f(ostree, 'int ostree_sysroot_stage_tree_with_options(void *sysroot, const char *osname, const char *revision, void *origin, void *merge, OstreeSysrootDeployTreeOpts *opts, _Out_ void **out_new, void *cancellable, _Out_ void **error)'),
    ostree_sysroot_simple_write_deployment: f(ostree, 'int ostree_sysroot_simple_write_deployment(void *sysroot, const char *osname, void *new_deployment, void *merge, int flags, void *cancellable, _Out_ void **error)'),
    ostree_sysroot_write_deployments: f(ostree, 'int ostree_sysroot_write_deployments(void *sysroot, void *deployments, void *cancellable, _Out_ void **error)'),
    ostree_sysroot_deployment_set_pinned: f(ostree, 'int ostree_sysroot_deployment_set_pinned(void *sysroot, void *deployment, int pinned, _Out_ void **error)'),
    ostree_sysroot_cleanup: f(ostree, 'int ostree_sysroot_cleanup(void *sysroot, void *cancellable, _Out_ void **error)'),
    ostree_sysroot_write_origin_file: f(ostree, 'int ostree_sysroot_write_origin_file(void *sysroot, void *deployment, void *origin, void *cancellable, _Out_ void **error)'),
    ostree_sysroot_repo: f(ostree, 'void *ostree_sysroot_repo(void *sysroot)'),
    ostree_deployment_get_index: f(ostree, 'int ostree_deployment_get_index(void *d)'),
    ostree_deployment_get_osname: f(ostree, 'const char *ostree_deployment_get_osname(void *d)'),
    ostree_deployment_get_deployserial: f(ostree, 'int ostree_deployment_get_deployserial(void *d)'),
    ostree_deployment_get_csum: f(ostree, 'const char *ostree_deployment_get_csum(void *d)'),
    ostree_deployment_get_bootcsum: f(ostree, 'const char *ostree_deployment_get_bootcsum(void *d)'),
    ostree_deployment_get_bootserial: f(ostree, 'int ostree_deployment_get_bootserial(void *d)'),
    ostree_deployment_get_bootconfig: f(ostree, 'void *ostree_deployment_get_bootconfig(void *d)'),
    ostree_deployment_get_origin: f(ostree, 'void *ostree_deployment_get_origin(void *d)'),
    ostree_deployment_is_pinned: f(ostree, 'int ostree_deployment_is_pinned(void *d)'),
    ostree_deployment_is_staged: f(ostree, 'int ostree_deployment_is_staged(void *d)'),
    ostree_deployment_equal: f(ostree, 'int ostree_deployment_equal(void *a, void *b)'),
    ostree_bootconfig_parser_get: f(ostree, 'const char *ostree_bootconfig_parser_get(void *parser, const char *key)'),
  };
}

/** Transport: pull, static deltas, summary. */
function transportFunctions({ ostree, glib }: Libraries) {
  return {
    g_variant_parse: f(glib, 'void *g_variant_parse(void *type, const char *text, const char *limit, void *endptr, _Out_ void **error)'),
    g_variant_get_uint32: f(glib, 'uint32 g_variant_get_uint32(void *value)'),
    g_variant_get_uint64: f(glib, 'uint64 g_variant_get_uint64(void *value)'),
    ostree_async_progress_new: f(ostree, 'void *ostree_async_progress_new()'),
    ostree_async_progress_get_variant: f(ostree, 'void *ostree_async_progress_get_variant(void *progress, const char *key)'),
    ostree_async_progress_finish: f(ostree, 'void ostree_async_progress_finish(void *progress)'),
    ostree_repo_pull_with_options: f(ostree, 'int ostree_repo_pull_with_options(void *repo, const char *remote_or_url, void *options, void *progress, void *cancellable, _Out_ void **error)'),
    ostree_repo_static_delta_generate: f(ostree, 'int ostree_repo_static_delta_generate(void *repo, int opt, const char *from, const char *to, void *metadata, void *params, void *cancellable, _Out_ void **error)'),
    ostree_repo_static_delta_execute_offline: f(ostree, 'int ostree_repo_static_delta_execute_offline(void *repo, void *dir_or_file, int skip_validation, void *cancellable, _Out_ void **error)'),
    ostree_repo_remote_change: f(ostree, 'int ostree_repo_remote_change(void *repo, void *sysroot, int changeop, const char *name, const char *url, void *options, void *cancellable, _Out_ void **error)'),
    ostree_repo_remote_list: f(ostree, 'void *ostree_repo_remote_list(void *repo, _Out_ uint32 *out_n)'),
    ostree_repo_remote_get_url: f(ostree, 'int ostree_repo_remote_get_url(void *repo, const char *name, _Out_ void **out_url, _Out_ void **error)'),
    ostree_repo_sign_commit: f(ostree, 'int ostree_repo_sign_commit(void *repo, const char *checksum, const char *key_id, const char *homedir, void *cancellable, _Out_ void **error)'),
    ostree_repo_add_gpg_signature_summary: f(ostree, 'int ostree_repo_add_gpg_signature_summary(void *repo, const char **key_id, const char *homedir, void *cancellable, _Out_ void **error)'),
    ostree_repo_verify_commit_ext: f(ostree, 'void *ostree_repo_verify_commit_ext(void *repo, const char *checksum, void *keyringdir, void *extra_keyring, void *cancellable, _Out_ void **error)'),
    ostree_gpg_verify_result_count_valid: f(ostree, 'uint32 ostree_gpg_verify_result_count_valid(void *result)'),
    ostree_gpg_verify_result_count_all: f(ostree, 'uint32 ostree_gpg_verify_result_count_all(void *result)'),
    ostree_repo_regenerate_summary: f(ostree, 'int ostree_repo_regenerate_summary(void *repo, void *additional_metadata, void *cancellable, _Out_ void **error)'),
  };
}

function bind(koffi: Koffi) {
  const libs = loadLibraries(koffi);
  declareTypes(koffi);
  printsToStderr(koffi, libs.glib);
  return { koffi, C: { ...glibFunctions(libs), ...ostreeFunctions(libs), ...sysrootFunctions(libs), ...transportFunctions(libs) } };
}

/**
 * libostree g_print()s a few lines of its own ("Freed objects: ..." after a cleanup) to the C stdout, which is
 * where our commands print their JSON (and the agent's workers their JSON lines): GLib's print handler sends
 * them to stderr instead. koffi runs the callback on the main thread, also for calls made on its worker threads.
 */
function printsToStderr(koffi: Koffi, glib: LibraryHandle): void {
  const handler = koffi.proto('void GPrintFunc(const char *string)');
  const toStderr = koffi.register((text: string) => void process.stderr.write(text), koffi.pointer(handler));
  glib.func('void *g_set_print_handler(GPrintFunc *func)')(toStderr);
}

let bound: ReturnType<typeof bind> | undefined;

/** Loads koffi and the libraries, once. */
function native(): ReturnType<typeof bind> {
  // loaded, not imported: a static import would load koffi's addon with this module, and a
  // dynamic one would make every binding async.
  bound ??= bind(loadKoffi());
  return bound;
}

/** An object whose properties are read from `load()`'s on first access (and kept). */
function onFirstUse<T extends object>(load: () => T): T {
  const seen = new Map<PropertyKey, unknown>();
  return new Proxy({} as T, {
    get(_target, key) {
      if (!seen.has(key)) seen.set(key, Reflect.get(load(), key));
      return seen.get(key);
    },
  });
}

/** Every bound C function, by its C name. */
export const C = onFirstUse(() => native().C);

/** koffi itself, for decoding and callbacks. */
export const koffi = onFirstUse(() => native().koffi);
