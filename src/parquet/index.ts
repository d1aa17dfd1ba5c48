export {
  type EncodeParquetOptions,
  encodeParquet,
  type ParquetCompression,
  type ParquetSchemaInput,
} from './encode.js';
export {
  type ParquetColumn,
  type ParquetColumnInput,
  type ParquetSchema,
  type ParquetType,
  parquetSchema,
} from './schema.js';
